using System.Net;
using System.Text.Json.Nodes;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace ActorCluster.Api.Tests;

/// <summary>
/// The dashboard (/ui/) in a real headless Chromium (Debian's chromium and chromedriver, driven by Selenium) against
/// a running cluster, the seed walkthrough done with the real kubectl beside it. Each step leaves a screenshot in
/// bin/.../dashboard-screenshots (the test's artifacts).
/// </summary>
public sealed class DashboardTests(ApiCluster c, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<ApiCluster>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "dashboard-screenshots");

    [SkippableFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task The_seed_walkthrough_is_seen_live_with_its_traffic_refusals_and_a_pod_deleted_from_the_page()
    {
        ApiCluster.Kubectl();
        using var browser = Browser.Start();
        var js = (IJavaScriptExecutor)browser.Driver;
        string Text(string selector) => (string)(js.ExecuteScript($"const e = document.querySelector({JsonValue.Create(selector)!.ToJsonString()}); return e ? e.textContent : '';") ?? "");
        async Task Until(Func<bool> condition, string what)
        {
            var deadline = DateTime.UtcNow + Bound;
            while (!condition())
            {
                if (DateTime.UtcNow > deadline)
                {
                    browser.Screenshot("failed");
                    throw new Xunit.Sdk.XunitException($"the dashboard did not show {what} within {Bound.TotalSeconds:0}s; try-it: {Text("#try-result")}; page: {Text("body")}; lines: {js.ExecuteScript("return document.getElementById('lines').outerHTML;")}");
                }
                await Task.Delay(50);
            }
        }

        // The page redraws what changed (every second while traffic flows): an element found a moment ago may have
        // been replaced since, as a person's click may land just after a redraw. Such an action is tried again.
        async Task Act(string selector, Action<IWebElement> action)
        {
            var deadline = DateTime.UtcNow + Bound;
            while (true)
            {
                try
                {
                    action(browser.Driver.FindElement(By.CssSelector(selector)));
                    return;
                }
                catch (Exception e) when (e is StaleElementReferenceException or ElementNotInteractableException or ElementClickInterceptedException && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50);
                }
            }
        }

        // Log in with the cluster's token.
        browser.Driver.Navigate().GoToUrl(c.Api.Url + "/ui/");
        await Until(() => browser.Driver.FindElement(By.Id("token")).Displayed, "the login form");
        browser.Driver.FindElement(By.Id("token")).SendKeys(c.Api.Token);
        browser.Driver.FindElement(By.CssSelector("#login-form button[type=submit]")).Click();
        await Until(() => Text("#who").Contains("logged in as", StringComparison.Ordinal), "who is logged in");
        await Until(() => Text("#nodes").Contains("k8s-worker3", StringComparison.Ordinal), "the three nodes");
        browser.Screenshot("1-logged-in");

        // The seed objects appear as kubectl creates them.
        foreach (var file in new[] { "pod-1.yaml", "pod-2.yaml", "svc-1-clusterip.yaml", "svc-2-nodeport.yaml" })
            await c.Ok("apply", "-f", ApiCluster.SeedFile(file));
        await c.Ok("wait", "--for=condition=Ready", "pod/pod-1", "pod/pod-2", "--timeout=60s");
        var pod1IP = await c.Ok("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}");
        await Until(() => Text(".pod[data-pod='default/pod-1']").Contains(pod1IP, StringComparison.Ordinal) && Text(".pod[data-pod='default/pod-2']").Contains("ready", StringComparison.Ordinal),
            "pod-1 with its IP and pod-2 ready");
        await Until(() => Text(".svc[data-service='default/svc-2']").Contains("NodePort", StringComparison.Ordinal), "svc-2 as a NodePort Service");
        await Until(() => (long)js.ExecuteScript("return document.querySelectorAll('#lines line[data-service=\"default/svc-1\"]').length;")! == 2, "svc-1's lines to both pods");
        // A LoadBalancer without a pool stays <pending>, and the page says why (its Warning Event).
        await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-4-loadbalancer.yaml"));
        await Until(() => Text(".svc[data-service='default/svc-4']").Contains("<pending>: ", StringComparison.Ordinal)
                          && Text(".svc[data-service='default/svc-4']").Contains("no available IPs", StringComparison.Ordinal), "svc-4 <pending> with its reason");
        browser.Screenshot("2-walkthrough-objects");

        // Applying the Local variant changes the view (from the watch, no reload).
        await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-2-nodeport-local.yaml"));
        var applied = System.Diagnostics.Stopwatch.StartNew();
        await Until(() => Text(".svc[data-service='default/svc-2']").Contains("externalTrafficPolicy: Local", StringComparison.Ordinal), "svc-2's externalTrafficPolicy: Local");
        // Reported, not asserted (a busy machine may be slower): from kubectl's answer to the page showing the change.
        output.WriteLine($"kubectl apply -> the page showed externalTrafficPolicy: Local after {applied.ElapsedMilliseconds} ms");
        browser.Screenshot("3-local-policy");

        // Requests through node 1's NodePort move the counters on the line to pod-1 (Local: node 1 answers from pod-1 only).
        var node1 = await c.Ok("get", "node", "k8s-worker1", "-o", "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}");
        var node3 = await c.Ok("get", "node", "k8s-worker3", "-o", "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}");
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
        {
            // A connection per request, as a curl loop makes them: the data plane counts connections.
            http.DefaultRequestHeaders.ConnectionClose = true;
            for (var i = 0; i < 10; i++) Assert.Equal("pod-1\n", await http.GetStringAsync($"http://{node1}:30002/hostname"));
        }
        await Until(() => long.TryParse((string?)js.ExecuteScript("const l = document.querySelector('#lines line[data-service=\"default/svc-2\"][data-pod=\"default/pod-1\"]'); return l ? l.dataset.connections : '0';"), out var n) && n >= 10,
            "10 connections on the line svc-2 -> pod-1");
        Assert.Equal("0", (string?)js.ExecuteScript("const l = document.querySelector('#lines line[data-service=\"default/svc-2\"][data-pod=\"default/pod-2\"]'); return l ? l.dataset.connections : 'missing';"));
        browser.Screenshot("4-traffic");

        // Node 3 has no pod of svc-2: its NodePort refuses, and the page says why, in kube-proxy's words.
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) })
            await Assert.ThrowsAsync<HttpRequestException>(() => http.GetStringAsync($"http://{node3}:30002/hostname"));
        await Until(() => Text("#decisions tr.refused").Contains("default/svc-2 has no local endpoints", StringComparison.Ordinal)
                          && Text("#decisions tr.refused").Contains("k8s-worker3", StringComparison.Ordinal), "the refusal on k8s-worker3 with its reason");
        // The same through the "try it" box, which names the path the request took.
        await Until(() => (bool)js.ExecuteScript($"return [...document.querySelectorAll('#try-address option')].some(o => o.value === '{node3}:30002');")!, "node 3's NodePort in the try-it box");
        js.ExecuteScript($"document.getElementById('try-address').value = '{node3}:30002';");
        browser.Driver.FindElement(By.CssSelector("#try-form button[type=submit]")).Click();
        await Until(() => Text("#try-result").Contains("refused, default/svc-2 has no local endpoints", StringComparison.Ordinal), "the try-it refusal");
        browser.Screenshot("5-refused");

        // The keyboard alone opens an object's details (Enter on a focused pod) and closes them (Escape).
        await Act(".pod[data-pod='default/pod-2']", pod2 =>
        {
            js.ExecuteScript("arguments[0].focus();", pod2);
            // The focus stays on pod-2 across redraws; Enter goes to whatever has it.
            browser.Driver.SwitchTo().ActiveElement().SendKeys(Keys.Enter);
        });
        await Until(() => Text("#panel-yaml").Contains("name: pod-2", StringComparison.Ordinal), "pod-2's YAML opened with Enter");
        browser.Driver.SwitchTo().ActiveElement().SendKeys(Keys.Escape);
        await Until(() => !browser.Driver.FindElement(By.Id("panel")).Displayed, "the panel closed with Escape");

        // Deleting pod-1 from the page (the admin may), then creating it again: a new pod with a new IP appears.
        await Act(".pod[data-pod='default/pod-1']", pod1 => pod1.Click());
        await Until(() => Text("#panel-yaml").Contains("kind: Pod", StringComparison.Ordinal) && Text("#panel-yaml").Contains("name: pod-1", StringComparison.Ordinal), "pod-1's YAML");
        Assert.DoesNotContain("managedFields", Text("#panel-yaml"), StringComparison.Ordinal);
        await Until(() => browser.Driver.FindElement(By.Id("panel-delete")).Displayed, "the Delete button for the admin");
        browser.Screenshot("6-pod-yaml");
        browser.Driver.FindElement(By.Id("panel-delete")).Click();
        browser.Driver.SwitchTo().Alert().Accept();
        await Until(() => Text("#nodes").Contains("pod-1", StringComparison.Ordinal) == false, "pod-1 gone");
        await c.Ok("apply", "-f", ApiCluster.SeedFile("pod-1.yaml"));
        await c.Ok("wait", "--for=condition=Ready", "pod/pod-1", "--timeout=60s");
        var newIP = await c.Ok("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}");
        Assert.NotEqual(pod1IP, newIP);
        await Until(() => Text(".pod[data-pod='default/pod-1']").Contains(newIP, StringComparison.Ordinal), "the new pod-1 with its new IP");
        browser.Screenshot("7-pod-recreated");

        // The page at a phone's width still shows everything, one column.
        browser.Driver.Manage().Window.Size = new System.Drawing.Size(390, 844);
        await Until(() => Text(".pod[data-pod='default/pod-1']").Contains(newIP, StringComparison.Ordinal), "the page at phone width");
        browser.Screenshot("8-phone");
        browser.Driver.Manage().Window.Size = new System.Drawing.Size(1280, 800);

        // A read-only user (group view) sees the same cluster, but no Delete: the page asks the API what it may do.
        using (var viewer = await UserClient("vera", "view"))
        {
            browser.Driver.FindElement(By.Id("logout")).Click();
            await Until(() => browser.Driver.FindElement(By.Id("token")).Displayed, "the login form after logging out");
            browser.Driver.FindElement(By.Id("token")).SendKeys(viewer.DefaultRequestHeaders.Authorization!.Parameter!);
            browser.Driver.FindElement(By.CssSelector("#login-form button[type=submit]")).Click();
            await Until(() => Text("#who").Contains("logged in as vera", StringComparison.Ordinal), "vera logged in");
            await Until(() => Text(".pod[data-pod='default/pod-1']").Contains(newIP, StringComparison.Ordinal), "pod-1 for the viewer");
            await Act(".pod[data-pod='default/pod-1']", pod1 => pod1.Click());
            await Until(() => Text("#panel-yaml").Contains("name: pod-1", StringComparison.Ordinal), "pod-1's YAML for the viewer");
            // The answer to "may I delete pods?" comes after the YAML; give it a moment to (wrongly) show the button.
            await Until(() => browser.Driver.FindElement(By.Id("panel")).GetDomAttribute("data-permissions") == "known", "the permission check done");
            Assert.False(browser.Driver.FindElement(By.Id("panel-delete")).Displayed, "a viewer must not be offered Delete");
        }

        Assert.Empty(browser.ConsoleErrors());
        // The token travelled only in headers: no logged request line carries it.
        Assert.DoesNotContain(c.AuditLines, line => line.Contains(c.Api.Token, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task The_files_need_no_token_and_allow_no_other_origin_while_the_data_needs_a_viewer()
    {
        using var anonymous = ThreeApis.TrustedClient(c.Api, c.Cluster.DataDir);
        anonymous.DefaultRequestHeaders.Authorization = null;
        using (var redirected = await anonymous.GetAsync("/ui"))
            Assert.Equal((HttpStatusCode.OK, "/ui/"), (redirected.StatusCode, redirected.RequestMessage!.RequestUri!.AbsolutePath));
        using (var page = await anonymous.GetAsync("/ui/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
            Assert.Equal("no-referrer", page.Headers.GetValues("Referrer-Policy").Single());
            Assert.Contains("<script src=\"/ui/app.js\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/ui/app.js")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/ui/api/traffic")).StatusCode);

        // A user outside the view and admin groups may not read the traffic; a viewer may, from every node.
        using var dev = await UserClient("dora", "devs");
        using var forbidden = await dev.GetAsync("/ui/api/traffic");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal("forbidden: User \"dora\" cannot get path \"/ui/api/traffic\"", JsonNode.Parse(await forbidden.Content.ReadAsStringAsync())!["message"]!.GetValue<string>());
        using var viewer = await UserClient("victor", "view");
        var traffic = JsonNode.Parse(await viewer.GetStringAsync("/ui/api/traffic"))!;
        Assert.Equal(["k8s-worker1", "k8s-worker2", "k8s-worker3"], traffic["nodes"]!.AsArray().Select(n => n!["node"]!.GetValue<string>()).Order());
        // ... but may not send requests into Services (that is services/proxy, which view does not grant).
        using (var viewerTry = await viewer.PostAsync("/ui/api/try", new StringContent("{\"address\":\"127.0.0.1:22\",\"path\":\"/\"}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, viewerTry.StatusCode);
            Assert.Contains("cannot get resource \"services/proxy\"", JsonNode.Parse(await viewerTry.Content.ReadAsStringAsync())!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        // The try-it box reaches Service addresses of this cluster only, with a plain path.
        using var admin = ThreeApis.TrustedClient(c.Api, c.Cluster.DataDir);
        foreach (var (body, message) in new[]
        {
            ("{\"address\":\"127.0.0.1:22\",\"path\":\"/\"}", "127.0.0.1:22 is not a Service address of this cluster (a ClusterIP, NodePort or LoadBalancer IP with a TCP port)"),
            ("{\"address\":\"127.0.0.1:22\",\"path\":\"http://example.com/\"}", "path \"http://example.com/\": expected an absolute path such as /hostname"),
            ("{\"address\":\"somewhere\"}", "address \"somewhere\": expected ip:port"),
        })
        {
            using var refused = await admin.PostAsync("/ui/api/try", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal(message, JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["message"]!.GetValue<string>());
        }
        using (var huge = await admin.PostAsync("/ui/api/try", new StringContent(new string(' ', 1 << 20) + "{}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
            Assert.Equal("Request entity too large: limit is 16384", JsonNode.Parse(await huge.Content.ReadAsStringAsync())!["message"]!.GetValue<string>());
        }
    }

    /// <summary>A client with a token-file user's token, once the API knows the user (the file is re-read at most once a second).</summary>
    private async Task<HttpClient> UserClient(string name, params string[] groups)
    {
        var client = ThreeApis.TrustedClient(c.Api, c.Cluster.DataDir);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiCredentials.LoadOrCreateUserToken(c.Cluster.DataDir, name, groups));
        var deadline = DateTime.UtcNow + Bound;
        while ((await client.GetAsync("/api")).StatusCode == HttpStatusCode.Unauthorized)
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"the API did not learn user {name} within {Bound.TotalSeconds:0}s");
            await Task.Delay(100);
        }
        return client;
    }

    /// <summary>Debian's headless Chromium through its chromedriver, with screenshots saved under <see cref="Screenshots"/>.</summary>
    private sealed class Browser : IDisposable
    {
        private readonly string _profile;

        private Browser(ChromeDriver driver, string profile)
        {
            Driver = driver;
            _profile = profile;
        }

        public ChromeDriver Driver { get; }

        public static Browser Start()
        {
            const string chromium = "/usr/bin/chromium", chromedriver = "/usr/bin/chromedriver";
            if (!File.Exists(chromium) || !File.Exists(chromedriver))
            {
                if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException("chromium and chromium-driver are required under CI");
                Skip.If(true, "chromium or chromium-driver not installed (apt-get install chromium chromium-driver)");
            }
            var profile = Path.Combine(Path.GetTempPath(), "actorcluster-chromium-" + Guid.NewGuid().ToString("N"));
            var options = new ChromeOptions { BinaryLocation = chromium, AcceptInsecureCertificates = true };
            // Headless, and nothing that reaches beyond this machine (this network is closed).
            options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,800", "--user-data-dir=" + profile);
            options.SetLoggingPreference(LogType.Browser, LogLevel.All);
            var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(chromedriver)!, Path.GetFileName(chromedriver));
            service.SuppressInitialDiagnosticInformation = true;
            service.HideCommandPromptWindow = true;
            Directory.CreateDirectory(Screenshots);
            return new Browser(new ChromeDriver(service, options, TimeSpan.FromSeconds(60)), profile);
        }

        public void Screenshot(string name) => Driver.GetScreenshot().SaveAsFile(Path.Combine(Screenshots, name + ".png"));

        /// <summary>What the page wrote to the console at level SEVERE (errors).</summary>
        public IReadOnlyList<string> ConsoleErrors() =>
            Driver.Manage().Logs.GetLog(LogType.Browser).Where(l => l.Level == LogLevel.Severe).Select(l => l.Message).ToList();

        public void Dispose()
        {
            Driver.Quit();
            Driver.Dispose();
            if (Directory.Exists(_profile)) Directory.Delete(_profile, recursive: true);
        }
    }
}

using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace ActorCluster.Api.Tests;

/// <summary>
/// Users from the static token file, as kube-apiserver's --token-auth-file: system:masters may do everything, view
/// may read, anyone else only ask about itself. Refusals are 403 in kube-apiserver's words for every verb; kubectl's
/// auth can-i and auth whoami answer; every write leaves one audit line.
/// </summary>
public sealed class AuthorizationTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>A kubeconfig for a user of the token file (created the first time), as `actorcluster kubeconfig --user` writes it.</summary>
    private (string Kubeconfig, string Token) User(string name, params string[] groups)
    {
        var token = ApiCredentials.LoadOrCreateUserToken(c.Cluster.DataDir, name, groups);
        var path = ApiCluster.File(ApiCredentials.Kubeconfig(c.Api.Url, token, File.ReadAllText(Path.Combine(c.Cluster.DataDir, "ca.crt")), name));
        return (path, token);
    }

    private HttpClient Client(string token)
    {
        var client = ThreeApis.TrustedClient(c.Api, c.Cluster.DataDir);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>The token file is re-read at most once a second: a request fails until the new user is known.</summary>
    private async Task Known(string token)
    {
        using var client = Client(token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await client.GetAsync("/api")).StatusCode == HttpStatusCode.Unauthorized)
        {
            Assert.True(DateTime.UtcNow < deadline, "the API never read the new token file");
            await Task.Delay(100);
        }
    }

    [SkippableFact]
    public async Task Kubectl_auth_can_i_answers_for_each_group()
    {
        var alice = User("alice", "view");
        var bob = User("bob");
        await Known(alice.Token);
        await Known(bob.Token);
        Assert.Equal("yes\n", await c.Ok("auth", "can-i", "create", "services"));
        var aliceCreates = await c.RunWith(alice.Kubeconfig, Bound, "auth", "can-i", "create", "services");
        Assert.Equal((1, "no\n"), (aliceCreates.ExitCode, aliceCreates.Stdout));
        var aliceLists = await c.RunWith(alice.Kubeconfig, Bound, "auth", "can-i", "list", "services");
        Assert.Equal((0, "yes\n"), (aliceLists.ExitCode, aliceLists.Stdout));
        var aliceWatchesNodes = await c.RunWith(alice.Kubeconfig, Bound, "auth", "can-i", "watch", "nodes");
        Assert.Equal("yes\n", aliceWatchesNodes.Stdout);
        var aliceProxies = await c.RunWith(alice.Kubeconfig, Bound, "auth", "can-i", "get", "services", "--subresource=proxy");
        Assert.Equal("no\n", aliceProxies.Stdout);
        var bobLists = await c.RunWith(bob.Kubeconfig, Bound, "auth", "can-i", "list", "pods");
        Assert.Equal((1, "no\n"), (bobLists.ExitCode, bobLists.Stdout));
    }

    [SkippableFact]
    public async Task A_viewer_reads_ConfigMaps_but_not_Secrets_as_with_Kubernetes_view_role()
    {
        var dana = User("dana", "view");
        await Known(dana.Token);
        await c.Ok("create", "configmap", "viewable", "--from-literal=k=v");
        await c.Ok("create", "secret", "generic", "hidden", "--from-literal=password=s3cret");
        Assert.Equal("v", (await c.RunWith(dana.Kubeconfig, Bound, "get", "configmap", "viewable", "-o", "jsonpath={.data.k}")).Stdout);
        var secret = await c.RunWith(dana.Kubeconfig, Bound, "get", "secret", "hidden", "-o", "jsonpath={.data.password}");
        Assert.Equal(1, secret.ExitCode);
        Assert.Contains("Error from server (Forbidden): secrets \"hidden\" is forbidden: User \"dana\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\"", secret.Stderr, StringComparison.Ordinal);
        var listed = await c.RunWith(dana.Kubeconfig, Bound, "get", "secrets", "-A");
        Assert.Contains("Error from server (Forbidden): secrets is forbidden: User \"dana\" cannot list resource \"secrets\" in API group \"\" at the cluster scope", listed.Stderr, StringComparison.Ordinal);
        Assert.Equal("no\n", (await c.RunWith(dana.Kubeconfig, Bound, "auth", "can-i", "watch", "secrets")).Stdout);
        Assert.Equal("yes\n", (await c.RunWith(dana.Kubeconfig, Bound, "auth", "can-i", "list", "configmaps")).Stdout);
        Assert.DoesNotMatch(@"(?m)^secrets\s", (await c.RunWith(dana.Kubeconfig, Bound, "auth", "can-i", "--list")).Stdout);
    }

    [SkippableFact]
    public async Task Kubectl_auth_can_i_list_prints_what_each_group_may_do()
    {
        var gina = User("gina", "view");
        var hank = User("hank");
        await Known(gina.Token);
        await Known(hank.Token);
        var viewer = await c.RunWith(gina.Kubeconfig, Bound, "auth", "can-i", "--list");
        Assert.True(viewer.ExitCode == 0, viewer.Output);
        Assert.Matches(@"(?m)^services\s+\[\]\s+\[\]\s+\[get list watch\]$", viewer.Stdout);
        Assert.Matches(@"(?m)^endpointslices\.discovery\.k8s\.io\s+\[\]\s+\[\]\s+\[get list watch\]$", viewer.Stdout);
        Assert.Matches(@"(?m)^\s+\[/metrics\]\s+\[\]\s+\[get\]$", viewer.Stdout);
        var nobody = await c.RunWith(hank.Kubeconfig, Bound, "auth", "can-i", "--list");
        Assert.Matches(@"(?m)^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$", nobody.Stdout);
        Assert.DoesNotMatch(@"(?m)^services\s", nobody.Stdout);
        Assert.DoesNotContain("/metrics", nobody.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$", await c.Ok("auth", "can-i", "--list"));
    }

    [SkippableFact]
    public async Task Kubectl_auth_whoami_names_the_user_and_its_groups()
    {
        var carol = User("carol", "view");
        await Known(carol.Token);
        var whoami = await c.RunWith(carol.Kubeconfig, Bound, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}");
        Assert.Equal((0, "carol [\"view\",\"system:authenticated\"]"), (whoami.ExitCode, whoami.Stdout));
        Assert.Equal("admin [\"system:masters\",\"system:authenticated\"]", await c.Ok("auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}"));
    }

    public static TheoryData<string, string, string?, string> Refusals => new()
    {
        // method, path, body, message (bob has no group: he may not even read)
        { "GET", "/api/v1/namespaces/default/services", null, "services is forbidden: User \"bob\" cannot list resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "GET", "/api/v1/namespaces/default/services?watch=true", null, "services is forbidden: User \"bob\" cannot watch resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "GET", "/api/v1/namespaces/default/services/web", null, "services \"web\" is forbidden: User \"bob\" cannot get resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "GET", "/api/v1/nodes", null, "nodes is forbidden: User \"bob\" cannot list resource \"nodes\" in API group \"\" at the cluster scope" },
        { "GET", "/api/v1/services", null, "services is forbidden: User \"bob\" cannot list resource \"services\" in API group \"\" at the cluster scope" },
        { "POST", "/api/v1/namespaces/default/services", "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":80}]}}", "services is forbidden: User \"bob\" cannot create resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "PUT", "/api/v1/namespaces/default/services/web", "{}", "services \"web\" is forbidden: User \"bob\" cannot update resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "PUT", "/api/v1/namespaces/default/services/web/status", "{}", "services \"web\" is forbidden: User \"bob\" cannot update resource \"services/status\" in API group \"\" in the namespace \"default\"" },
        { "PATCH", "/api/v1/namespaces/default/services/web", "{}", "services \"web\" is forbidden: User \"bob\" cannot patch resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "DELETE", "/api/v1/namespaces/default/services/web", null, "services \"web\" is forbidden: User \"bob\" cannot delete resource \"services\" in API group \"\" in the namespace \"default\"" },
        { "POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "{}", "endpointslices.discovery.k8s.io is forbidden: User \"bob\" cannot create resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\"" },
        { "GET", "/api/v1/namespaces/default/services/web:9000/proxy/hostname", null, "services \"web\" is forbidden: User \"bob\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"default\"" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Every_verb_is_refused_with_kube_apiservers_403(string method, string path, string? body, string message)
    {
        var bob = User("bob");
        await Known(bob.Token);
        using var client = Client(bob.Token);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, method == "PATCH" ? "application/merge-patch+json" : "application/json");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var status = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(("Status", "Failure", "Forbidden", 403, message), ((string)status["kind"]!, (string)status["status"]!, (string)status["reason"]!, (int)status["code"]!, (string)status["message"]!));

        // A stranger's token is not a user at all: 401, whatever the verb.
        using var stranger = Client("not-a-token");
        using var again = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) again.Content = new StringContent(body, Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.SendAsync(again)).StatusCode);
    }

    [SkippableFact]
    public async Task A_viewer_reads_but_writes_are_refused_by_kubectl_in_kubernetes_words()
    {
        var dave = User("dave", "view");
        await Known(dave.Token);
        Assert.Equal(0, (await c.RunWith(dave.Kubeconfig, Bound, "get", "nodes")).ExitCode);
        var create = await c.RunWith(dave.Kubeconfig, Bound, "create", "service", "clusterip", "dave-svc", "--tcp=80:8080");
        Assert.Equal(1, create.ExitCode);
        Assert.Equal("error: failed to create ClusterIP service: services is forbidden: User \"dave\" cannot create resource \"services\" in API group \"\" in the namespace \"default\"\n", create.Stderr);
    }

    [Fact]
    public async Task Every_write_leaves_one_audit_line_with_who_what_and_the_answer()
    {
        var erin = User("erin", "view");
        await Known(erin.Token);
        using (var client = Client(erin.Token))
        {
            var refused = await client.PostAsync("/api/v1/namespaces/default/services",
                new StringContent("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"audited\"},\"spec\":{\"ports\":[{\"port\":80}]}}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using (var admin = ThreeApis.TrustedClient(c.Api, c.Cluster.DataDir))
        {
            var created = await admin.PostAsync("/api/v1/namespaces/default/services",
                new StringContent("{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"audited\"},\"spec\":{\"ports\":[{\"port\":80}]}}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("/api/v1/namespaces/default/services/audited")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/namespaces/default/services")).StatusCode); // a read: no line
        }
        string[] expected =
        [
            // Refused before its body is read: a create's name is not known yet (as in Kubernetes' audit objectRef).
            "audit: user=\"erin\" groups=\"view\" verb=create resource=\"services\" namespace=\"default\" name=\"\" code=403",
            "audit: user=\"admin\" groups=\"system:masters\" verb=create resource=\"services\" namespace=\"default\" name=\"audited\" code=201",
            "audit: user=\"admin\" groups=\"system:masters\" verb=delete resource=\"services\" namespace=\"default\" name=\"audited\" code=200",
        ];
        // The line is written once the answer has gone out, a moment after the client has it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!expected.All(c.AuditLines.Contains) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.All(expected, line => Assert.Contains(line, c.AuditLines));
        Assert.DoesNotContain(c.AuditLines, l => l.Contains("verb=list", StringComparison.Ordinal));
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_token_file_is_the_owners_and_a_user_keeps_its_token()
    {
        var first = ApiCredentials.LoadOrCreateUserToken(c.Cluster.DataDir, "frank", ["view"]);
        Assert.Equal(first, ApiCredentials.LoadOrCreateUserToken(c.Cluster.DataDir, "frank", ["view"]));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(c.Cluster.DataDir, ApiAuthentication.TokensFileName)));
        Assert.Throws<ArgumentException>(() => ApiCredentials.LoadOrCreateUserToken(c.Cluster.DataDir, "mallory,x", []));
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s.Models;

namespace ActorCluster.Cluster.Workloads;

/// <summary>The outcome of a command run inside a container.</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// The few commands the built-in image has (it is not a Linux userland): <c>hostname</c>, <c>cat /etc/hostname</c>
/// and <c>cat</c> of the files the container's ConfigMap and Secret volumes put under their mount paths, <c>env</c>, <c>echo</c>, <c>true</c>, <c>false</c>, <c>wget -qO- URL</c> and <c>curl URL</c> (from the pod's own
/// address, so a ClusterIP can be called "from inside a pod"), and <c>sh -c "one of these"</c>. Anything else
/// fails as a missing executable does. Used by exec probes.
/// </summary>
public static class BuiltinCommands
{
    public const string Available = "hostname, cat /etc/hostname, cat FILE (of a ConfigMap or Secret volume), env, echo, true, false, sleep SECONDS, wget -qO- URL, curl URL, sh -c \"...\"";

    /// <param name="files">the files of the container's volumes by absolute path (none when null)</param>
    /// <param name="stop">ends a command that waits (sleep, a fetch) as a SIGTERM would: exit code 143</param>
    public static async Task<CommandResult> Run(IReadOnlyList<string> argv, PodIdentity pod, V1Container container, TimeSpan timeout,
        IReadOnlyDictionary<string, byte[]>? files = null, CancellationToken stop = default)
    {
        if (argv.Count == 0) return new CommandResult(127, "", "no command\n");
        var name = Path.GetFileName(argv[0]);
        switch (name)
        {
            case "sh" or "bash" when argv.Count == 3 && argv[1] == "-c":
                return await Run(argv[2].Split(' ', StringSplitOptions.RemoveEmptyEntries), pod, container, timeout, files, stop).ConfigureAwait(false);
            case "sh" or "bash":
                return new CommandResult(126, "", $"an interactive shell is not available: the built-in image kubetm/app runs these commands: {Available}\n");
            case "true":
                return new CommandResult(0, "", "");
            case "false":
                return new CommandResult(1, "", "");
            case "hostname":
                return new CommandResult(0, pod.Name + "\n", "");
            case "cat" when argv.Count == 2 && argv[1] == "/etc/hostname":
                return new CommandResult(0, pod.Name + "\n", "");
            case "cat":
                return Cat(argv.Skip(1).ToList(), pod, files);
            case "echo":
                return new CommandResult(0, string.Join(' ', argv.Skip(1)) + "\n", "");
            case "env":
                var env = new StringBuilder();
                env.Append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n").Append($"HOSTNAME={pod.Name}\n");
                foreach (var e in container.Env ?? []) env.Append($"{e.Name}={e.Value}\n");
                return new CommandResult(0, env.ToString(), "");
            case "sleep":
                return await Sleep(argv, timeout, stop).ConfigureAwait(false);
            case "wget" or "curl":
                var url = argv.Skip(1).LastOrDefault(a => !a.StartsWith('-'));
                if (url is null) return new CommandResult(1, "", $"{name}: missing URL\n");
                return await Fetch(name, url, pod, timeout, stop).ConfigureAwait(false);
            default:
                return new CommandResult(127, "", $"exec: \"{argv[0]}\": executable file not found in $PATH (the built-in image kubetm/app has: {Available})\n");
        }
    }

    /// <summary>cat of /etc/hostname and of volume files: each found file's bytes in order, an error line for each other.</summary>
    private static CommandResult Cat(IReadOnlyList<string> paths, PodIdentity pod, IReadOnlyDictionary<string, byte[]>? files)
    {
        if (paths.Count == 0) return new CommandResult(1, "", "cat: reading standard input is not supported here\n");
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        foreach (var path in paths)
        {
            if (path == "/etc/hostname") stdout.Append(pod.Name).Append('\n');
            else if (files?.TryGetValue(path, out var bytes) == true) stdout.Append(Encoding.UTF8.GetString(bytes));
            else if (files?.Keys.Any(k => k.StartsWith(path.TrimEnd('/') + "/", StringComparison.Ordinal)) == true) stderr.Append($"cat: {path}: Is a directory\n");
            else stderr.Append($"cat: {path}: No such file or directory\n");
        }
        return new CommandResult(stderr.Length == 0 ? 0 : 1, stdout.ToString(), stderr.ToString());
    }

    /// <summary>An HTTP GET from the pod's own address, as wget or curl report it.</summary>
    /// <summary>sleep SECONDS (fractions and "infinity" too), bounded by the command's timeout, ended early by a stop.</summary>
    private static async Task<CommandResult> Sleep(IReadOnlyList<string> argv, TimeSpan timeout, CancellationToken stop)
    {
        if (argv.Count != 2) return new CommandResult(1, "", "sleep: missing operand (sleep SECONDS)\n");
        TimeSpan duration;
        if (argv[1] == "infinity") duration = Timeout.InfiniteTimeSpan;
        else if (double.TryParse(argv[1].TrimEnd('s'), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            duration = TimeSpan.FromSeconds(Math.Min(seconds, int.MaxValue / 1000.0));
        else return new CommandResult(1, "", $"sleep: invalid time interval '{argv[1]}'\n");
        if (timeout != Timeout.InfiniteTimeSpan && (duration == Timeout.InfiniteTimeSpan || duration > timeout)) duration = timeout;
        try
        {
            await Task.Delay(duration, stop).ConfigureAwait(false);
            return new CommandResult(0, "", "");
        }
        catch (OperationCanceledException)
        {
            return new CommandResult(143, "", "");
        }
    }

    private static async Task<CommandResult> Fetch(string tool, string url, PodIdentity pod, TimeSpan timeout, CancellationToken stop)
    {
        if (!url.Contains("://", StringComparison.Ordinal)) url = "http://" + url;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "http")
            return new CommandResult(1, "", $"{tool}: unsupported URL {url} (plain http only)\n");
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(pod.IP), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var client = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await client.GetAsync(uri, stop).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(stop).ConfigureAwait(false);
            if (tool == "wget" && !response.IsSuccessStatusCode)
                return new CommandResult(8, "", $"wget: server returned error: HTTP/1.1 {(int)response.StatusCode} {response.ReasonPhrase}\n");
            return new CommandResult(0, body, "");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return new CommandResult(143, "", "");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
        {
            return tool == "wget"
                ? new CommandResult(4, "", $"wget: can't connect to remote host ({uri.Host}): {e.GetBaseException().Message}\n")
                : new CommandResult(7, "", $"curl: (7) Failed to connect to {uri.Host} port {uri.Port}: {e.GetBaseException().Message}\n");
        }
    }
}

namespace ActorCluster.Host;

/// <summary>Signals through libc: a graceful stop is SIGTERM (Process.Kill would be SIGKILL), and signal 0 asks whether a pid lives.</summary>
internal static class Posix
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public static void Terminate(int pid) => Kill(pid, 15);

    public static bool Alive(int pid) => Kill(pid, 0) == 0;
}

/// <summary>How this executable runs itself again (nodes of <c>up</c>, a detached <c>up</c>): its apphost, single file, or <c>dotnet actorcluster.dll</c>.</summary>
internal static class Self
{
    public static string Program => Environment.ProcessPath!;

    /// <summary>Arguments that come before the command: the assembly, when the process is the <c>dotnet</c> host.</summary>
    public static IEnumerable<string> Prefix =>
        Path.GetFileNameWithoutExtension(Program) == "dotnet" ? [Path.Combine(AppContext.BaseDirectory, "actorcluster.dll")] : [];
}

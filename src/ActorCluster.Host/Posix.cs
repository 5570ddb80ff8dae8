namespace ActorCluster.Host;

/// <summary>Signals through libc: a graceful stop is SIGTERM (Process.Kill would be SIGKILL), and signal 0 asks whether a pid lives.</summary>
internal static class Posix
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public static void Terminate(int pid) => Kill(pid, 15);

    public static bool Alive(int pid) => Kill(pid, 0) == 0;
}

namespace ActorCluster.Cluster.Security;

/// <summary>
/// The data directory's shared secrets (token, CA, kubeconfig). Several nodes may start on one empty directory at
/// the same moment: whoever holds the directory's lock creates what is missing, the others wait and read it, so
/// each secret is created exactly once. Every file is written whole under a temporary name with mode 0600 from
/// its creation and renamed into place, so a reader never sees half a file and no one ever sees it readable by others.
/// </summary>
public static class SecretFiles
{
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Runs <paramref name="action"/> holding the data directory's secrets lock (an exclusive flock).</summary>
    public static T WithLock<T>(string dataDir, Func<T> action)
    {
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, "secrets.lock");
        var deadline = DateTime.UtcNow + LockWait;
        while (true)
        {
            FileStream? held = null;
            try
            {
                // FileShare.None takes flock(LOCK_EX): it excludes other processes and other handles in this one.
                held = Create(path, FileMode.OpenOrCreate, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(20);
                continue;
            }
            using (held)
            {
                return action();
            }
        }
    }

    /// <summary>Writes the file whole (temporary file, mode 0600 from the start, flushed) and renames it into place.</summary>
    public static void WriteAtomically(string path, string content)
    {
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = Create(temp, FileMode.CreateNew, FileShare.None))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(content);
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>
    /// Refuses a secret that others may read or write (as ssh refuses an unprotected key): the token, the CA key and
    /// the kubeconfig of a data directory stay the owner's. Throws <see cref="UnprotectedSecretException"/>.
    /// </summary>
    public static void EnsureOwnerOnly(string path)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return;
        var mode = File.GetUnixFileMode(path);
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & others) != 0)
            throw new UnprotectedSecretException(
                $"{Path.GetFullPath(path)} is open to other users (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}); secrets must be 0600: chmod 600 {Path.GetFullPath(path)}");
    }

    private static FileStream Create(string path, FileMode mode, FileShare share)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.ReadWrite, Share = share };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
        return new FileStream(path, options);
    }
}

/// <summary>A secret of the data directory that others may read: the node refuses to start with it.</summary>
public sealed class UnprotectedSecretException(string message) : Exception(message);

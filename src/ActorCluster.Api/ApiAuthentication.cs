using System.Security.Cryptography;
using System.Text;
using ActorCluster.Cluster.Security;
using ActorCluster.Core.Auth;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// Who sends a request: the bearer token of the cluster (&lt;data-dir&gt;/token, user "admin" in system:masters) or
/// one of &lt;data-dir&gt;/tokens.csv, kube-apiserver's static token file format, re-read when it changes (so
/// <c>actorcluster kubeconfig --user</c> takes effect without a restart). A token file that does not parse keeps
/// the last good one and says so in the log.
/// </summary>
public sealed class ApiAuthentication(string clusterToken, string dataDir, Action<string> warn)
{
    public static readonly UserInfo Admin = new("admin", "admin", [UserInfo.Masters]);

    private readonly byte[] _clusterToken = Encoding.UTF8.GetBytes(clusterToken);
    private readonly string _tokensFile = Path.Combine(dataDir, TokensFileName);
    private readonly Lock _reload = new();
    private StaticTokens _tokens = StaticTokens.None;
    private (DateTime Modified, long Length) _loaded;
    private long _checkedAt;

    /// <summary>The static token file of a data directory.</summary>
    public const string TokensFileName = "tokens.csv";

    public UserInfo? Authenticate(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
        var token = header["Bearer ".Length..].Trim();
        if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), _clusterToken)) return Admin;
        return Tokens().Authenticate(token);
    }

    /// <summary>The token file as of now: looked at (one stat) at most once a second, parsed again only when it changed.</summary>
    private StaticTokens Tokens()
    {
        var now = Environment.TickCount64;
        if (now - Interlocked.Read(ref _checkedAt) < 1000) return _tokens;
        lock (_reload)
        {
            if (now - _checkedAt < 1000) return _tokens;
            _checkedAt = now;
            var info = new FileInfo(_tokensFile);
            if (!info.Exists)
            {
                _tokens = StaticTokens.None;
                _loaded = default;
                return _tokens;
            }
            var stamp = (info.LastWriteTimeUtc, info.Length);
            if (stamp == _loaded) return _tokens;
            try
            {
                SecretFiles.EnsureOwnerOnly(_tokensFile);
                _tokens = StaticTokens.Parse(File.ReadAllText(_tokensFile));
                _loaded = stamp;
            }
            catch (Exception e) when (e is FormatException or IOException or UnprotectedSecretException)
            {
                warn($"{_tokensFile} not loaded, the previous tokens stay in force: {e.Message}");
                _loaded = stamp;
            }
            return _tokens;
        }
    }
}

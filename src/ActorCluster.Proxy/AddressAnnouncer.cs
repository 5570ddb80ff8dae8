using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;

namespace ActorCluster.Proxy;

/// <summary>
/// MetalLB's layer-2 mode for the LoadBalancer IPs this node is elected to serve: an address that is not already
/// on this host is added to the interface holding the node address (<c>ip addr add IP/32</c>, which needs
/// CAP_NET_ADMIN) and announced with a gratuitous ARP (<c>arping -U</c>, when installed) so neighbours move to
/// this host at once; withdrawing removes it again. Loopback addresses (the local cluster) need neither. Shared by
/// the node's Service actors: an address several Services share (different ports) is claimed by each and removed when
/// the last one withdraws.
/// </summary>
public sealed class AddressAnnouncer(IPAddress nodeAddress, Action<string> log)
{
    private readonly HashSet<IPAddress> _added = [];
    private readonly Dictionary<IPAddress, int> _claims = new();
    private readonly Lock _lock = new();

    /// <summary>Makes <paramref name="address"/> bindable here for one claimant; false (with a log line) when it cannot be added.</summary>
    public bool Announce(IPAddress address)
    {
        lock (_lock)
        {
            if (!AnnounceLocked(address)) return false;
            _claims[address] = _claims.GetValueOrDefault(address) + 1;
            return true;
        }
    }

    private bool AnnounceLocked(IPAddress address)
    {
        if (IPAddress.IsLoopback(address) || _added.Contains(address) || IsLocal(address)) return true;
        var device = InterfaceOf(nodeAddress);
        if (device is null)
        {
            log($"cannot announce {address}: no interface holds the node address {nodeAddress}");
            return false;
        }
        var (ok, output) = Run("ip", ["addr", "add", $"{address}/32", "dev", device]);
        if (!ok && !output.Contains("File exists", StringComparison.Ordinal))
        {
            log($"cannot announce {address} on {device}: ip addr add: {output.Trim()} (the node needs CAP_NET_ADMIN)");
            return false;
        }
        _added.Add(address);
        Run("arping", ["-U", "-c", "1", "-I", device, address.ToString()]); // best effort: neighbours also re-resolve on their own
        log($"announcing {address} on {device}");
        return true;
    }

    /// <summary>One claimant gives the address up; the last one removes it if this announcer added it (another node serves it now).</summary>
    public void Withdraw(IPAddress address)
    {
        lock (_lock)
        {
            if (_claims.TryGetValue(address, out var claims) && claims > 1)
            {
                _claims[address] = claims - 1;
                return;
            }
            _claims.Remove(address);
            RemoveLocked(address);
        }
    }

    public void WithdrawAll()
    {
        lock (_lock)
        {
            _claims.Clear();
            foreach (var a in _added.ToList()) RemoveLocked(a);
        }
    }

    private void RemoveLocked(IPAddress address)
    {
        if (!_added.Remove(address)) return;
        if (InterfaceOf(nodeAddress) is { } device) Run("ip", ["addr", "del", $"{address}/32", "dev", device]);
        log($"withdrew {address}");
    }

    private static bool IsLocal(IPAddress address) =>
        NetworkInterface.GetAllNetworkInterfaces().Any(i => i.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(address)));

    private static string? InterfaceOf(IPAddress address) =>
        NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(i => i.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(address)))?.Name;

    /// <summary>Runs a tool with a bound of five seconds; (false, why) when it is missing, fails or hangs.</summary>
    private static (bool Ok, string Output) Run(string tool, string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(5000))
            {
                p.Kill();
                return (false, $"{tool} did not finish in 5s");
            }
            return (p.ExitCode == 0, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, $"{tool}: {e.Message}");
        }
    }
}

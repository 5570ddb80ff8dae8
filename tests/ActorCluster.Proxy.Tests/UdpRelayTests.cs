using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy;
using k8s.Models;

namespace ActorCluster.Proxy.Tests;

/// <summary>
/// The UDP listener on its own, real sockets on 127.0.13.0/24: its flows are bounded per Service port as
/// conntrack bounds them (a new flow beyond the limit is dropped and counted, open flows keep working, and an
/// idle flow makes room), and ClientIP affinity is kept and bounded by <see cref="AffinityMemory"/>.
/// </summary>
public sealed class UdpRelayTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_new_flow_beyond_the_limit_is_dropped_and_counted_and_gets_through_once_an_idle_flow_is_forgotten()
    {
        using var pod = UdpEcho(new IPEndPoint(IPAddress.Parse("127.0.13.2"), 5300));
        var at = new IPEndPoint(IPAddress.Parse("127.0.13.1"), 5300);
        // Idleness on a clock of the test's own: the two flows cannot expire while the third is being refused,
        // however slowly a busy machine runs this (on the system clock, 1 s could pass and let it in).
        var clock = new ManualClock();
        await using var listener = UdpServiceListener.Start(at, Table(at, (IPEndPoint)pod.Client.LocalEndPoint!), TrafficSource.Internal, at.Address,
            reusePort: false, new UdpFlowLimits(IdleTimeout: TimeSpan.FromSeconds(1), MaxFlows: 2) { Clock = clock });

        using var first = Client();
        using var second = Client();
        using var third = Client();
        Assert.Equal("a", await Ask(first, at, "a"));
        Assert.Equal("b", await Ask(second, at, "b"));

        // The third client's flow would be the third: dropped (as a full conntrack table drops it), and counted.
        third.Send("c"u8.ToArray(), at);
        await Poll.Until(() => Interlocked.Read(ref listener.Stats.DroppedFlowLimit) >= 1, Bound, "the new flow dropped");
        Assert.Equal(0, third.Available);
        Assert.Equal(2, Interlocked.Read(ref listener.Stats.Active));
        // The open flows keep working meanwhile.
        Assert.Equal("a2", await Ask(first, at, "a2"));

        // Once the two flows have been idle for the timeout, the next sweep forgets them and the third client gets a
        // flow of its own.
        clock.Advance(TimeSpan.FromSeconds(2));
        await Poll.Until(() => Interlocked.Read(ref listener.Stats.Active) == 0, Bound, "the idle flows forgotten");
        Assert.Equal("c", await Ask(third, at, "c", retryFor: TimeSpan.FromSeconds(10)));
    }

    /// <summary>A clock that moves only when told to.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    private static RoutingTable Table(IPEndPoint at, IPEndPoint pod)
    {
        var service = new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "udp", NamespaceProperty = "default" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = at.Port, Protocol = "UDP" }] },
        };
        var slice = new V1EndpointSlice
        {
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta { Name = "udp-0" },
            Ports = [new Discoveryv1EndpointPort { Port = pod.Port, Protocol = "UDP" }],
            Endpoints = [new V1Endpoint { Addresses = [pod.Address.ToString()], Conditions = new V1EndpointConditions { Ready = true } }],
        };
        return RoutingTable.Build(service, [slice], "node").Single();
    }

    private static UdpClient Client() => new(new IPEndPoint(IPAddress.Loopback, 0));

    /// <summary>Sends and waits for the echo; with <paramref name="retryFor"/>, sends again every 200 ms until answered (UDP may drop).</summary>
    private static async Task<string> Ask(UdpClient client, IPEndPoint to, string text, TimeSpan? retryFor = null)
    {
        var deadline = DateTime.UtcNow + (retryFor ?? Bound);
        while (true)
        {
            await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(text), to);
            using var attempt = new CancellationTokenSource(retryFor is null ? Bound : TimeSpan.FromMilliseconds(200));
            try
            {
                var reply = await client.ReceiveAsync(attempt.Token);
                return System.Text.Encoding.ASCII.GetString(reply.Buffer);
            }
            catch (OperationCanceledException) when (DateTime.UtcNow < deadline)
            {
            }
        }
    }

    /// <summary>A UDP "pod" that echoes each datagram; it ends when disposed.</summary>
    private static UdpClient UdpEcho(IPEndPoint at)
    {
        var socket = new UdpClient(at);
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var r = await socket.ReceiveAsync();
                    await socket.SendAsync(r.Buffer, r.RemoteEndPoint);
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
            }
        });
        return socket;
    }
}

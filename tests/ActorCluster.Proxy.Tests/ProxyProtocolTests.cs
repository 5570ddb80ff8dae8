using System.Net;

namespace ActorCluster.Proxy.Tests;

/// <summary>HAProxy's PROXY protocol v2, as the relay writes it for pods of Services annotated for it.</summary>
public sealed class ProxyProtocolTests
{
    [Fact]
    public void A_PROXY_v2_header_round_trips_and_plain_data_is_left_alone()
    {
        var client = new IPEndPoint(IPAddress.Parse("10.200.0.1"), 40123);
        var header = ProxyProtocol.Header(client, new IPEndPoint(IPAddress.Parse("10.200.0.11"), 30000));
        var data = header.Concat("GET / HTTP/1.1\r\n"u8.ToArray()).ToArray();
        var (state, length, parsed) = ProxyProtocol.TryParse(data);
        Assert.Equal(ProxyProtocol.ParseState.Parsed, state);
        Assert.Equal(28, length);
        Assert.Equal(client, parsed);
        Assert.Equal(ProxyProtocol.ParseState.NeedMore, ProxyProtocol.TryParse(header.AsSpan(0, 20)).State);
        Assert.Equal(ProxyProtocol.ParseState.NotPresent, ProxyProtocol.TryParse("GET / HTTP/1.1\r\n"u8).State);
    }
}

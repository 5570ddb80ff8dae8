using System.Net;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// One proxied TCP connection on its relay loop: route, dial (retrying other endpoints with kube-proxy's userspace
/// timeouts), optionally through a node tunnel, then copy both ways. End of stream on one side becomes a half-close
/// (shutdown of sending) on the other; an error on either side closes both. Backpressure: a side is read only once
/// what was read from it has been written to the other. Sockets are edge-triggered: every step runs until the kernel
/// says "would block", and the next readiness event resumes it.
/// </summary>
internal sealed unsafe class RelayConnection
{
    private enum Phase
    {
        Dialing,
        TunnelChallenge,
        TunnelStatus,
        Relaying,
        Closed,
    }

    /// <summary>One direction's copy state: bytes read but not yet written are buffer[Start..End].</summary>
    private struct Flow
    {
        public byte[]? Buffer;
        public int Start;
        public int End;
        public bool Eof; // the reading side sent FIN
        public bool Done; // and the writing side has been told (or both are closing)
    }

    private enum Step
    {
        Waiting,
        Finished,
        Failed,
    }

    private readonly RelayLoop _loop;
    private readonly int _client;
    private readonly IPAddress _clientAddress;
    private readonly int _clientPort;
    private readonly RoutingTable _table;
    private readonly string? _affinityKey;
    private readonly IPAddress _podSees; // the source address the pod should see when dialed directly (through a tunnel: this node)
    private int _upstream = -1;
    private Phase _phase = Phase.Dialing;
    private int _attempt;
    private AffinityEntry? _affinity;
    private AffinityEntry? _chosenAffinity;
    private HashSet<string>? _tried;
    private ServiceEndpoint? _endpoint;
    private EndpointTraffic? _traffic; // the chosen endpoint's counters, when the node keeps a traffic log
    private Flow _up; // client -> endpoint
    private Flow _down; // endpoint -> client
    private byte[]? _challenge; // the tunnel's challenge, as far as it has arrived
    private int _challengeRead;

    public RelayConnection(RelayLoop loop, ServiceListener listener, int client, IPAddress clientAddress, int clientPort)
    {
        _clientPort = clientPort;
        _loop = loop;
        Listener = listener;
        _client = client;
        _clientAddress = clientAddress;
        _table = listener.Table;
        // The affinity key (a string per connection) only when the service asks for affinity.
        _affinityKey = _table.AffinitySeconds > 0 ? clientAddress.ToString() : null;
        _podSees = Router.SourceAddress(_table, listener.Source, clientAddress, listener.NodeAddress);
    }

    public ServiceListener Listener { get; }

    public int Slot { get; set; }

    public uint Generation { get; set; }

    /// <summary>Changes with every dial, so a deadline set for an earlier dial is recognised as stale.</summary>
    public uint Serial { get; private set; }

    public bool IsDialing => _phase is Phase.Dialing or Phase.TunnelChallenge or Phase.TunnelStatus;

    public void Start()
    {
        Native.SetInt(_client, Native.IPPROTO_TCP, Native.TCP_NODELAY, 1);
        if (_affinityKey is not null) _affinity = Listener.Affinity.Get(_affinityKey);
        Dial();
    }

    /// <summary>Routes and starts a dial; refuses the client (RST) when nothing is left to try.</summary>
    private void Dial()
    {
        var stats = Listener.Stats;
        if (Listener.LoadBalancer && !_table.AdmitsLoadBalancerClient(_clientAddress))
        {
            Interlocked.Increment(ref stats.RefusedSourceRange);
            Listener.Traffic?.Record(_table, Listener, _clientAddress, _clientPort, null, NoRouteReason.SourceNotAllowed);
            Refuse();
            return;
        }
        for (; _attempt < ServiceListener.DialTimeouts.Length; _attempt++)
        {
            var decision = Router.Route(_table, Listener.Source, _affinity, DateTime.UtcNow, Random.Shared.NextDouble(), _tried);
            if (!decision.Routed)
            {
                if (decision.Reason == NoRouteReason.NoEndpoints) Interlocked.Increment(ref stats.RefusedNoEndpoints);
                else if (decision.Reason == NoRouteReason.NoLocalEndpoints) Interlocked.Increment(ref stats.RefusedNoLocalEndpoints);
                else Interlocked.Increment(ref stats.Failed);
                Listener.Traffic?.Record(_table, Listener, _clientAddress, _clientPort, null, decision.Reason);
                Refuse();
                return;
            }
            _affinity = null;
            _endpoint = decision.Endpoint!;
            _chosenAffinity = decision.Affinity;
            if (Connect()) return; // the loop resumes us when the connect completes or its deadline passes
            (_tried ??= []).Add(_endpoint.Address);
            Interlocked.Increment(ref stats.DialRetries);
        }
        Interlocked.Increment(ref stats.Failed);
        Listener.Traffic?.Record(_table, Listener, _clientAddress, _clientPort, null, NoRouteReason.AllEndpointsTried);
        Refuse();
    }

    /// <summary>A non-blocking connect to the endpoint, or to its node's tunnel; false when it failed at once.</summary>
    private bool Connect()
    {
        var endpoint = _endpoint!;
        // Through a tunnel the proxy connects from this node's address (the tunnel admits members only) and the
        // header asks the far node for the address the pod should see.
        var target = endpoint.Via ?? endpoint.EndPoint!;
        var from = endpoint.Via is null ? _podSees : Listener.NodeAddress;
        var fd = Native.socket(Native.AF_INET, Native.SOCK_STREAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        var address = stackalloc byte[16];
        Native.SetInt(fd, Native.IPPROTO_TCP, Native.TCP_NODELAY, 1);
        // IP_BIND_ADDRESS_NO_PORT: the port is picked at connect time, per destination, so a busy proxy dialing from
        // one source address is not limited to one ephemeral range (TIME_WAIT included) for all pods.
        Native.SetInt(fd, Native.IPPROTO_IP, Native.IP_BIND_ADDRESS_NO_PORT, 1);
        Native.WriteSockaddr(address, from, 0);
        if (Native.bind(fd, address, 16) != 0)
        {
            Native.close(fd);
            return false;
        }
        Native.WriteSockaddr(address, target.Address, target.Port);
        if (Native.connect(fd, address, 16) != 0 && Native.Errno != Native.EINPROGRESS)
        {
            Native.close(fd);
            return false;
        }
        if (Native.EpollAdd(_loop.Epoll, fd, Native.EPOLLIN | Native.EPOLLOUT | Native.EPOLLRDHUP | Native.EPOLLET, _loop.EventData(this, RelayLoop.KindUpstream)) != 0)
        {
            Native.close(fd);
            return false;
        }
        _upstream = fd;
        _phase = Phase.Dialing;
        Serial++;
        _loop.AddDeadline(this, _attempt, Serial);
        return true;
    }

    public void OnEvent(bool upstream, uint events)
    {
        switch (_phase)
        {
            case Phase.Dialing when upstream && (events & (Native.EPOLLOUT | Native.EPOLLERR | Native.EPOLLHUP)) != 0:
                int error = 0, length = sizeof(int);
                if (Native.getsockopt(_upstream, Native.SOL_SOCKET, Native.SO_ERROR, &error, &length) != 0 || error != 0)
                {
                    DialFailed();
                }
                else if (_endpoint!.Via is not null)
                {
                    // The tunnel answered: its handshake gets its own, longer deadline (the dial's is void now).
                    Serial++;
                    _loop.AddTunnelHandshakeDeadline(this, Serial);
                    _phase = Phase.TunnelChallenge;
                    _challenge = new byte[TunnelHandshake.ChallengeLength];
                    _challengeRead = 0;
                    ReadTunnelChallenge();
                }
                else
                {
                    StartRelaying();
                }
                break;
            case Phase.TunnelChallenge when upstream:
                ReadTunnelChallenge();
                break;
            case Phase.TunnelStatus when upstream:
                ReadTunnelStatus();
                break;
            case Phase.Relaying:
                Pump();
                break;
        }
    }

    /// <summary>The dial failed or timed out: try another endpoint (kube-proxy's userspace retry).</summary>
    public void DialFailed()
    {
        Native.close(_upstream);
        _upstream = -1;
        Serial++;
        (_tried ??= []).Add(_endpoint!.Address);
        Interlocked.Increment(ref Listener.Stats.DialRetries);
        _attempt++;
        Dial();
    }

    /// <summary>The tunnel speaks first: its challenge (<see cref="TunnelHandshake"/>), read as it arrives.</summary>
    private void ReadTunnelChallenge()
    {
        fixed (byte* into = &_challenge![_challengeRead])
        {
            var n = Native.recv(_upstream, into, (nuint)(_challenge.Length - _challengeRead), 0);
            if (n < 0 && Native.Errno == Native.EAGAIN) return;
            if (n <= 0)
            {
                DialFailed();
                return;
            }
            _challengeRead += (int)n;
        }
        if (_challengeRead < _challenge.Length) return;
        if (!TunnelHandshake.IsChallenge(_challenge) || Listener.Tunnel is not { } credentials)
        {
            DialFailed();
            return;
        }
        SendTunnelHello(credentials);
    }

    private void SendTunnelHello(TunnelCredentials credentials)
    {
        // The 14-byte header of NodeTunnel (magic, target pod IPv4 and port, this node as the source the pod sees),
        // then this node's certificate and its signature over the challenge and the header.
        var header = new byte[NodeTunnel.HeaderLength];
        NodeTunnel.WriteHeader(header, _endpoint!.EndPoint!, Listener.NodeAddress);
        var hello = credentials.Hello(_challenge!, header);
        _challenge = null;
        // A fresh connection's send buffer is empty: the hello (well under a kilobyte) goes at once or the
        // connection is broken.
        fixed (byte* bytes = hello)
        {
            if (Native.send(_upstream, bytes, (nuint)hello.Length, Native.MSG_NOSIGNAL) != hello.Length)
            {
                DialFailed();
                return;
            }
        }
        _phase = Phase.TunnelStatus;
        ReadTunnelStatus();
    }

    private void ReadTunnelStatus()
    {
        byte status;
        var n = Native.recv(_upstream, &status, 1, 0); // exactly one byte: what follows is the pod's
        if (n < 0 && Native.Errno == Native.EAGAIN) return;
        if (n == 1 && status == NodeTunnel.Connected) StartRelaying();
        else DialFailed();
    }

    private void StartRelaying()
    {
        _phase = Phase.Relaying;
        if (_chosenAffinity is not null && _affinityKey is not null) Listener.Affinity.Remember(_affinityKey, _chosenAffinity, _table.AffinitySeconds);
        Interlocked.Increment(ref Listener.Stats.Active);
        if (Listener.Traffic is { } traffic)
        {
            traffic.Record(_table, Listener, _clientAddress, _clientPort, _endpoint, null);
            _traffic = traffic.For(_table, _endpoint!);
            Interlocked.Increment(ref _traffic.Connections);
        }
        _up.Buffer = _loop.RentBuffer();
        _down.Buffer = _loop.RentBuffer();
        if (_table.ProxyProtocol)
        {
            // Opted in: the pod learns the original client first (a tunnel passes these bytes through).
            _up.End = ProxyProtocol.Write(_up.Buffer, new IPEndPoint(_clientAddress, _clientPort), Listener.EndPoint);
        }
        if (Native.EpollAdd(_loop.Epoll, _client, Native.EPOLLIN | Native.EPOLLOUT | Native.EPOLLRDHUP | Native.EPOLLET, _loop.EventData(this, RelayLoop.KindClient)) != 0)
        {
            Close();
            return;
        }
        Pump();
    }

    private void Pump()
    {
        var up = Copy(ref _up, _client, _upstream, _down.Done, out var sentUp);
        var down = Copy(ref _down, _upstream, _client, _up.Done, out var sentDown);
        // Counted once per readiness event, not per send: the counters are shared by every loop.
        if (sentUp > 0)
        {
            Interlocked.Add(ref Listener.Stats.BytesIn, sentUp);
            if (_traffic is not null) Interlocked.Add(ref _traffic.BytesIn, sentUp);
        }
        if (sentDown > 0)
        {
            Interlocked.Add(ref Listener.Stats.BytesOut, sentDown);
            if (_traffic is not null) Interlocked.Add(ref _traffic.BytesOut, sentDown);
        }
        if (up == Step.Failed || down == Step.Failed || (_up.Done && _down.Done)) Close();
    }

    /// <summary>Moves bytes from one socket to the other until one of them would block.</summary>
    private static Step Copy(ref Flow flow, int from, int to, bool otherDone, out long moved)
    {
        moved = 0;
        if (flow.Done) return Step.Finished;
        fixed (byte* buffer = flow.Buffer)
        {
            while (true)
            {
                if (flow.End > flow.Start)
                {
                    var sent = Native.send(to, buffer + flow.Start, (nuint)(flow.End - flow.Start), Native.MSG_NOSIGNAL);
                    if (sent < 0) return Native.Errno == Native.EAGAIN ? Step.Waiting : Step.Failed;
                    flow.Start += (int)sent;
                    moved += sent;
                    continue;
                }
                if (flow.Eof)
                {
                    flow.Done = true;
                    // Half-close: the peer sees end of stream and may still answer. When the other way is over too,
                    // the connection is closed as a whole instead.
                    if (!otherDone) Native.shutdown(to, Native.SHUT_WR);
                    return Step.Finished;
                }
                var read = Native.recv(from, buffer, RelayLoop.BufferSize, 0);
                if (read > 0)
                {
                    flow.Start = 0;
                    flow.End = (int)read;
                }
                else if (read == 0)
                {
                    flow.Eof = true;
                }
                else
                {
                    return Native.Errno == Native.EAGAIN ? Step.Waiting : Step.Failed;
                }
            }
        }
    }

    private void Refuse()
    {
        _phase = Phase.Closed;
        Native.CloseWithReset(_client);
        _loop.Remove(this);
    }

    /// <summary>Closes both sides (closing also removes them from epoll) and frees the slot; safe to call twice.</summary>
    public void Close()
    {
        if (_phase == Phase.Closed) return;
        if (_phase == Phase.Relaying) Interlocked.Decrement(ref Listener.Stats.Active);
        _phase = Phase.Closed;
        Native.close(_client);
        if (_upstream >= 0) Native.close(_upstream);
        _upstream = -1;
        if (_up.Buffer is not null) _loop.ReturnBuffer(_up.Buffer);
        if (_down.Buffer is not null) _loop.ReturnBuffer(_down.Buffer);
        _up.Buffer = _down.Buffer = null;
        _loop.Remove(this);
    }
}

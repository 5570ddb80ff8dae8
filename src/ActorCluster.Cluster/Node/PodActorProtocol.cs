using ActorCluster.Cluster.Serialization;

namespace ActorCluster.Cluster.Node;

// A PodActor's requests from other actors, possibly on other nodes (the Service actor that picked the pod).

/// <summary>
/// One HTTP request for the pod's workload on <paramref name="Port"/> (a container port), made by the PodActor on
/// the pod's own node, so it reaches pods wherever they run. Answered with <see cref="PodProxyResponse"/>.
/// </summary>
public sealed record PodProxyRequest(int Port, string Method, string PathAndQuery, string? ContentType, byte[] Body) : IClusterMessage;

/// <summary>The workload's answer (Status 0: it could not be reached; Error says why), and which pod gave it.</summary>
public sealed record PodProxyResponse(string Pod, string Node, int Status, string? ContentType, byte[] Body, string? Error = null) : IClusterMessage;

/// <summary>
/// A container's log (what <c>kubectl logs</c> reads): lines from number <paramref name="From"/> on (null: from the
/// start, or the last <paramref name="TailLines"/>), of the current container or the previous one. Answered with
/// <see cref="PodLogResponse"/>; a follower asks again from <c>Next</c>.
/// </summary>
public sealed record PodLogRequest(string? Container, bool Previous, long? From, int? TailLines, DateTime? Since) : IClusterMessage;

/// <summary>
/// Lines (time and text), the number to ask from next, whether the container still runs, or an error in kubelet's
/// words. Instance: the container's restart count when these lines were written (line numbers start again with each).
/// </summary>
public sealed record PodLogResponse(IReadOnlyList<PodLogEntry> Lines, long Next, bool Running, string? Error = null, int Instance = 0) : IClusterMessage;

public sealed record PodLogEntry(DateTime Time, string Text);

/// <summary>Runs a command in one of the pod's containers (<c>kubectl exec</c>); answered with <see cref="PodExecResponse"/>.</summary>
public sealed record PodExecRequest(string? Container, IReadOnlyList<string> Command) : IClusterMessage;

/// <summary>The command's exit code and output, or (Error) why it could not run, in kubelet's words.</summary>
public sealed record PodExecResponse(int ExitCode, string Stdout, string Stderr, string? Error = null) : IClusterMessage;

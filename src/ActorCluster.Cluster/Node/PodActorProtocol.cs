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

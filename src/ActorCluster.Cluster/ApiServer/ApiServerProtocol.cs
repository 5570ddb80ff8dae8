using System.Text.Json.Serialization;
using ActorCluster.Cluster.Serialization;
using ActorCluster.Core.ControlPlane;
using Akka.Actor;

namespace ActorCluster.Cluster.ApiServer;

// The ApiServer singleton's protocol. Objects travel as Kubernetes JSON with their plural resource name,
// so every message is plain data and stays small (one object each, well under the remoting frame).

// Writes with DryRun set (kube-apiserver's dryRun=All) are admitted, defaulted, allocated and validated in full,
// and answered with the object they would store; nothing is persisted and every allocation is given back.

/// <summary>Create an object (POST). Replies <see cref="ObjectReply"/> or <see cref="ApiErrorReply"/>.</summary>
public sealed record CreateObject(string Resource, string? Namespace, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json, bool DryRun = false) : IClusterMessage;

/// <summary>Replace an object (PUT), or its status when <paramref name="Status"/> is set.</summary>
public sealed record UpdateObject(string Resource, string? Namespace, string Name, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json, bool Status, bool DryRun = false) : IClusterMessage;

/// <summary>Delete an object; pods on a Ready node are stopped gracefully first.</summary>
/// <param name="PropagationPolicy">DeleteOptions.propagationPolicy: Background (null), Foreground or Orphan</param>
public sealed record DeleteObject(string Resource, string? Namespace, string Name, long? GracePeriodSeconds, bool DryRun = false, string? PropagationPolicy = null) : IClusterMessage;

/// <summary>Read one object from the authoritative store (its durable state: never a write still being journaled).</summary>
public sealed record GetObject(string Resource, string? Namespace, string Name) : IClusterMessage;

/// <summary>
/// List objects (namespace "" or null: all namespaces) with label and field selectors, in pages: at most
/// <paramref name="Limit"/> objects (0: no limit) and never more than fits well under the remoting frame; a page
/// that stops early carries a continue token.
/// </summary>
public sealed record ListObjects(string Resource, string? Namespace, string? LabelSelector, string? FieldSelector, int Limit, string? Continue) : IClusterMessage;

/// <summary>One page of a list, as raw object JSON, at the store's resourceVersion.</summary>
public sealed record ObjectList(string Resource, IReadOnlyList<RawObject> Items, long ResourceVersion, string? Continue) : IClusterMessage;

/// <summary>An object's JSON inside a list page.</summary>
public sealed record RawObject([property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json);

/// <summary>The object as stored (with its resourceVersion), after the write is durable.</summary>
public sealed record ObjectReply(string Resource, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json, long ResourceVersion) : IClusterMessage;

/// <summary>A Kubernetes Status error (the JSON kube-apiserver would send); RetryAfterSeconds &gt; 0 becomes a Retry-After header.</summary>
public sealed record ApiErrorReply(int Code, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string StatusJson, int RetryAfterSeconds = 0) : IClusterMessage
{
    public static ApiErrorReply From(Core.Api.ApiError error) => new(error.Code, error.ToJson(), error.Details?.RetryAfterSeconds ?? 0);
}

/// <summary>A node's agent announces its node (on start and whenever the ApiServer moves).</summary>
public sealed record RegisterNode(string Name, string Address, string AkkaAddress, string KernelVersion, string OsImage, NodeCapacity? Capacity = null) : IClusterMessage;

/// <summary>A node's agent renews its Lease (its heartbeat in kube-node-lease); nothing is answered.</summary>
public sealed record RenewNodeLease(string Name) : IClusterMessage;

/// <summary>A node's agent reports a pod's status.</summary>
public sealed record ReportPodStatus(string Namespace, string Name, string Uid, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string StatusJson) : IClusterMessage;

/// <summary>A node's agent confirms that a pod marked for deletion has stopped.</summary>
public sealed record ConfirmPodTerminated(string Namespace, string Name, string Uid) : IClusterMessage;

/// <summary>Acknowledges a node-side report once it is durable.</summary>
public sealed record Acknowledged(long ResourceVersion) : IClusterMessage;

/// <summary>
/// Start a watch for a node: objects it needs (services, endpoint slices, endpoints, nodes, namespaces and
/// its own pods; every pod when <paramref name="NodeName"/> is empty). From 0: a snapshot first (list), then
/// changes; from a recent resourceVersion: only the changes after it (or <see cref="WatchExpired"/>).
/// </summary>
/// <paramref name="RequestId"/> comes back in every part of the snapshot, so parts of different requests never mix.
public sealed record StartWatch(IActorRef Subscriber, string NodeName, long FromResourceVersion, long RequestId = 0) : IClusterMessage;

/// <summary>
/// Part <paramref name="Part"/> (from 0) of <paramref name="Parts"/> of the snapshot that answers the StartWatch
/// with <paramref name="RequestId"/>; every part carries the snapshot's resourceVersion.
/// </summary>
public sealed record WatchSnapshot(IReadOnlyList<WatchedObject> Objects, long ResourceVersion, long RequestId, int Part, int Parts) : IClusterMessage
{
    [JsonIgnore]
    public bool Last => Part == Parts - 1;
}

/// <summary>An object inside a snapshot.</summary>
public sealed record WatchedObject(string Resource, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json);

/// <summary>
/// One change, in resourceVersion order. <paramref name="PreviousResourceVersion"/> is the version of the
/// previous message this subscriber got, so a subscriber sees any gap and lists again.
/// </summary>
public sealed record WatchChange(string Type, string Resource, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json, long ResourceVersion, long PreviousResourceVersion, long CommittedUnixMs) : IClusterMessage;

/// <summary>The requested resourceVersion is older than the history kept: list again (HTTP 410 Gone).</summary>
public sealed record WatchExpired(long OldestResourceVersion) : IClusterMessage;

/// <summary>
/// A watch resumed from a resourceVersion: every change after it has been sent (possibly none), and the ones that
/// follow will come from this ApiServer. A subscriber that is fully current learns here who it follows now.
/// </summary>
public sealed record WatchResumed(long ResourceVersion) : IClusterMessage;

/// <summary>Stop sending changes to this subscriber.</summary>
public sealed record StopWatch(IActorRef Subscriber) : IClusterMessage;

/// <summary>
/// The persisted event: every change one decision made, applied atomically, at <paramref name="ResourceVersion"/>
/// (0 in events written before versions were recorded: their journal sequence number is their version).
/// </summary>
public sealed record ObjectsChanged(IReadOnlyList<PersistedChange> Changes, long CommittedUnixMs, long ResourceVersion = 0) : IClusterMessage;

/// <summary>One change inside <see cref="ObjectsChanged"/>.</summary>
public sealed record PersistedChange(string Type, string Resource, [property: JsonConverter(typeof(ClusterMessageSerializer.RawJsonConverter))] string Json);

/// <summary>The snapshot: the whole store at one resourceVersion.</summary>
public sealed record StoreSnapshot(IReadOnlyList<WatchedObject> Objects, long ResourceVersion) : IClusterMessage;

/// <summary>
/// The singleton's termination message: finish the writes being journaled (their replies go out), refuse new
/// ones with 503 and Retry-After, then stop, so a hand-over never drops the reply of a durable write.
/// </summary>
public sealed record HandOver
{
    public static readonly HandOver Instance = new();
}

using k8s.Models;

namespace ActorCluster.Cluster.Node;

// NodeAgent <-> PodActor (local to one node process).

/// <summary>The latest version of the pod from the replica (spec, metadata, deletion marks).</summary>
public sealed record PodChanged(V1Pod Pod);

/// <summary>The pod is being deleted: stop its workload within the grace period, then confirm.</summary>
public sealed record TerminatePod(TimeSpan GracePeriod);

/// <summary>A PodActor has finished (stopped and confirmed, or was removed): its IP is free again.</summary>
public sealed record PodActorFinished(string Uid, string IP);

/// <summary>Ask a NodeAgent for the pods it runs; answered with <see cref="RunningPods"/>.</summary>
public sealed record GetRunningPods
{
    public static readonly GetRunningPods Instance = new();
}

/// <summary>pod name -> pod IP, for the pods whose workloads run on this node.</summary>
public sealed record RunningPods(IReadOnlyDictionary<string, string> IPsByPod);

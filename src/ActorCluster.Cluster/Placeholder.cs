namespace ActorCluster.Cluster; internal static class Placeholder { }

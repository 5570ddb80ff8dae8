using System.Security.Cryptography;
using System.Text;

namespace ActorCluster.Core.Routing;

/// <summary>
/// Which node announces (binds) a LoadBalancer IP, as MetalLB's layer-2 speakers decide: every node computes the same
/// answer from the same facts, so no messages are needed. Rendezvous hashing over the eligible nodes (Ready; under
/// externalTrafficPolicy Local only nodes with a ready local endpoint): when the winner leaves, the next-highest takes
/// over, and other services keep their nodes.
/// </summary>
public static class LoadBalancerElection
{
    public static string? Elect(string serviceKey, IEnumerable<string> eligibleNodes)
    {
        string? winner = null;
        var best = -1L;
        foreach (var node in eligibleNodes)
        {
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(serviceKey + "\n" + node));
            var score = BitConverter.ToInt64(hash, 0) & long.MaxValue;
            if (score > best || (score == best && string.CompareOrdinal(node, winner) < 0))
            {
                best = score;
                winner = node;
            }
        }
        return winner;
    }
}

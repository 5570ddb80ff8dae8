using ActorCluster.Core.Workloads;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ActorCluster.Core.Tests;

/// <summary>The deployment controller's arithmetic: fenceposts and rolling steps as tables, and its promises as properties.</summary>
public class RolloutPlannerTests
{
    private static readonly DateTime Old = new(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime New = Old.AddHours(1);

    [Theory]
    [InlineData("25%", "25%", 10, 3, 2)] // surge rounds up, unavailable down
    [InlineData("25%", "25%", 3, 1, 0)]
    [InlineData("25%", "25%", 1, 1, 0)]
    [InlineData("0", "0", 3, 0, 1)] // both 0 would never move: one may be unavailable
    [InlineData("1", "0", 3, 1, 0)]
    [InlineData("50%", "50%", 5, 3, 2)]
    [InlineData("100%", "0%", 4, 4, 0)]
    public void Fenceposts_resolve_percentages_as_kubernetes_rounds_them(string surge, string unavailable, int replicas, int wantSurge, int wantUnavailable) =>
        Assert.Equal((wantSurge, wantUnavailable), RolloutPlanner.ResolveFenceposts(surge, unavailable, replicas));

    public static TheoryData<string, int, int, int, (int, int), (int, int), (int, int)> Steps => new()
    {
        // name, replicas, surge, unavailable, new (replicas, available), old (replicas, available) -> next (new, old)
        { "the new one surges first", 3, 1, 0, (0, 0), (3, 3), (1, 3) },
        { "nothing moves while the surged pod is not available", 3, 1, 0, (1, 0), (3, 3), (1, 3) },
        { "an available new pod lets an old one go", 3, 1, 0, (1, 1), (3, 3), (1, 2) },
        { "then the new one surges again", 3, 1, 0, (1, 1), (2, 2), (2, 2) },
        { "maxUnavailable lets old pods go before new ones are up", 4, 0, 1, (0, 0), (4, 4), (0, 3) },
        { "unavailable old pods go first, without touching available ones", 3, 1, 1, (1, 0), (3, 1), (1, 2) },
        { "a new set bigger than wanted shrinks", 3, 1, 0, (5, 5), (0, 0), (3, 0) },
        { "done: nothing to do", 3, 1, 0, (3, 3), (0, 0), (3, 0) },
    };

    [Theory]
    [MemberData(nameof(Steps))]
    public void A_rolling_step_moves_as_kubernetes_moves(string name, int replicas, int surge, int unavailable, (int Replicas, int Available) newRs, (int Replicas, int Available) oldRs, (int New, int Old) want)
    {
        var next = RolloutPlanner.RollingStep(replicas, surge, unavailable, new ReplicaSetCount("new", newRs.Replicas, newRs.Available, New),
            [new ReplicaSetCount("old", oldRs.Replicas, oldRs.Available, Old)]);
        Assert.True((want.New, want.Old) == (next["new"], next["old"]), $"{name}: got new {next["new"]}, old {next["old"]}");
    }

    [Fact]
    public void Old_replica_sets_shrink_oldest_first()
    {
        var next = RolloutPlanner.RollingStep(4, 0, 2, new ReplicaSetCount("new", 0, 0, New),
            [new ReplicaSetCount("older", 2, 2, Old), new ReplicaSetCount("old", 2, 2, Old.AddMinutes(1))]);
        Assert.Equal((0, 2, 0), (next["older"], next["old"], next["new"]));
    }

    [Theory]
    [InlineData(10, new[] { 6, 3 }, new[] { 7, 3 })] // +1 to the largest
    [InlineData(18, new[] { 6, 3 }, new[] { 12, 6 })] // doubled in proportion
    [InlineData(3, new[] { 6, 3 }, new[] { 2, 1 })] // shrunk in proportion
    [InlineData(0, new[] { 6, 3 }, new[] { 0, 0 })]
    public void Scaling_during_a_rollout_is_shared_in_proportion(int allowed, int[] sizes, int[] want)
    {
        var active = sizes.Select((n, i) => new ReplicaSetCount($"rs{i}", n, n, Old.AddMinutes(i))).ToList();
        var next = RolloutPlanner.Proportional(allowed, active);
        Assert.Equal(want, active.Select(r => next[r.Name]).ToArray());
    }

    /// <summary>A rollout as a sequence of syncs, between which some of the new pods become available.</summary>
    public sealed record Rollout(int Replicas, string Surge, string Unavailable, List<int> Readiness);

    private static readonly Gen<string> IntOrPercent = Gen.OneOf(Gen.Choose(0, 4).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        Gen.Elements(0, 10, 25, 50, 100).Select(p => $"{p}%"));

    private static Arbitrary<Rollout> Rollouts() => Arb.From(
        from replicas in Gen.Choose(1, 12)
        from surge in IntOrPercent
        from unavailable in IntOrPercent
        from readiness in Gen.ListOf(Gen.Choose(0, 3), 60)
        select new Rollout(replicas, surge, unavailable, readiness.ToList()));

    [Property(MaxTest = 400)]
    public Property A_rolling_update_never_exceeds_surge_never_drops_below_availability_and_finishes() => Prop.ForAll(Rollouts(), r =>
    {
        var (surge, unavailable) = RolloutPlanner.ResolveFenceposts(r.Surge, r.Unavailable, r.Replicas);
        var minAvailable = r.Replicas - RolloutPlanner.MaxUnavailable(unavailable, r.Replicas);
        var newRs = new ReplicaSetCount("new", 0, 0, New);
        var oldRs = new ReplicaSetCount("old", r.Replicas, r.Replicas, Old);
        // Enough syncs for any rollout to finish once pods come up; readiness is generated for the first ones,
        // then every pod becomes available.
        for (var step = 0; step < 200; step++)
        {
            var next = RolloutPlanner.RollingStep(r.Replicas, surge, unavailable, newRs, [oldRs]);
            // The ReplicaSet controller removes pods that are not available first.
            newRs = newRs with { Replicas = next["new"], Available = Math.Min(newRs.Available, next["new"]) };
            oldRs = oldRs with { Replicas = next["old"], Available = Math.Min(oldRs.Available, next["old"]) };
            if (newRs.Replicas + oldRs.Replicas > r.Replicas + surge) return false.Label($"step {step}: {newRs.Replicas}+{oldRs.Replicas} pods > {r.Replicas}+{surge}");
            if (newRs.Available + oldRs.Available < minAvailable) return false.Label($"step {step}: {newRs.Available}+{oldRs.Available} available < {minAvailable}");
            var becomeReady = step < r.Readiness.Count ? r.Readiness[step] : int.MaxValue;
            newRs = newRs with { Available = (int)Math.Min(newRs.Replicas, (long)newRs.Available + becomeReady) };
        }
        return (newRs.Replicas == r.Replicas && oldRs.Replicas == 0).Label($"did not finish: new {newRs.Replicas}, old {oldRs.Replicas}");
    });
}

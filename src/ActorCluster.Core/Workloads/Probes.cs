using k8s.Models;

namespace ActorCluster.Core.Workloads;

/// <summary>A probe's timing with Kubernetes' defaults (period 10 s, timeout 1 s, success 1, failure 3).</summary>
public sealed record ProbeTiming(int InitialDelaySeconds, int PeriodSeconds, int TimeoutSeconds, int SuccessThreshold, int FailureThreshold)
{
    public static ProbeTiming Of(V1Probe probe) => new(
        Math.Max(0, probe.InitialDelaySeconds ?? 0),
        Math.Max(1, probe.PeriodSeconds ?? 10),
        Math.Max(1, probe.TimeoutSeconds ?? 1),
        Math.Max(1, probe.SuccessThreshold ?? 1),
        Math.Max(1, probe.FailureThreshold ?? 3));
}

/// <summary>
/// kubelet's prober worker for one probe of one container: results count only once they repeat successThreshold
/// (successes) or failureThreshold (failures) times in a row; until then the result stays what it was.
/// </summary>
public sealed class ProbeCounter(ProbeTiming timing, bool initial)
{
    private int _successes;
    private int _failures;

    public ProbeTiming Timing { get; } = timing;

    /// <summary>Failures in a row so far.</summary>
    public int ConsecutiveFailures => _failures;

    /// <summary>The probe's current result (readiness starts false, liveness true, startup false).</summary>
    public bool Result { get; private set; } = initial;

    /// <summary>Records one probe; true when the result changed.</summary>
    public bool Record(bool success)
    {
        if (success)
        {
            _failures = 0;
            if (++_successes < Timing.SuccessThreshold || Result) return false;
            Result = true;
            return true;
        }
        _successes = 0;
        if (++_failures < Timing.FailureThreshold || !Result) return false;
        Result = false;
        return true;
    }
}

/// <summary>
/// kubelet's restart back-off for a container that keeps exiting: the first restart at once, then 10 s doubling to
/// 5 minutes (CrashLoopBackOff while waiting); a container that ran 10 minutes without exiting starts again from 0.
/// </summary>
public static class CrashLoopBackOff
{
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan Max = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan ResetAfter = TimeSpan.FromMinutes(10);

    /// <summary>The wait before restart number <paramref name="restarts"/> + 1 (restarts so far, since the last reset).</summary>
    public static TimeSpan Delay(int restarts) =>
        restarts <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(Max.Ticks, Initial.Ticks << Math.Min(restarts - 1, 10)));
}

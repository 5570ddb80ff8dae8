using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>kubelet's probe arithmetic and restart back-off, and the probe rules of pod validation.</summary>
public class ProbeTests
{
    [Fact]
    public void A_result_changes_only_after_threshold_results_in_a_row()
    {
        var liveness = new ProbeCounter(ProbeTiming.Of(new V1Probe { FailureThreshold = 3 }), initial: true);
        Assert.False(liveness.Record(false));
        Assert.False(liveness.Record(false));
        Assert.False(liveness.Record(true)); // a success resets the streak
        Assert.False(liveness.Record(false));
        Assert.False(liveness.Record(false));
        Assert.True(liveness.Record(false));
        Assert.False(liveness.Result);
        Assert.Equal(3, liveness.ConsecutiveFailures);

        var readiness = new ProbeCounter(ProbeTiming.Of(new V1Probe { SuccessThreshold = 2 }), initial: false);
        Assert.False(readiness.Record(true));
        Assert.True(readiness.Record(true));
        Assert.True(readiness.Result);
    }

    [Fact]
    public void Timing_takes_kubernetes_defaults()
    {
        Assert.Equal(new ProbeTiming(0, 10, 1, 1, 3), ProbeTiming.Of(new V1Probe()));
        Assert.Equal(new ProbeTiming(5, 2, 3, 1, 1), ProbeTiming.Of(new V1Probe { InitialDelaySeconds = 5, PeriodSeconds = 2, TimeoutSeconds = 3, FailureThreshold = 1 }));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 10)]
    [InlineData(2, 20)]
    [InlineData(3, 40)]
    [InlineData(5, 160)]
    [InlineData(6, 300)] // capped at 5 minutes
    [InlineData(40, 300)]
    public void Restarts_back_off_from_10_seconds_doubling_to_5_minutes(int restarts, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), CrashLoopBackOff.Delay(restarts));

    [Theory]
    [InlineData("livenessProbe: {periodSeconds: 5}", "spec.containers[0].livenessProbe: Required value: must specify a handler type")]
    [InlineData("livenessProbe: {httpGet: {port: 8080}, successThreshold: 2}", "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1")]
    [InlineData("startupProbe: {tcpSocket: {port: 8080}, successThreshold: 3}", "spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1")]
    [InlineData("readinessProbe: {httpGet: {port: 8080}, tcpSocket: {port: 8080}}", "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type")]
    [InlineData("readinessProbe: {httpGet: {port: 70000}}", "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 70000: must be between 1 and 65535, inclusive")]
    [InlineData("readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: -1}", "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0")]
    public void Invalid_probes_are_refused_in_kubernetes_words(string probe, string error)
    {
        var pod = Yaml.Pod($$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: app
                image: kubetm/app
                {{probe}}
            """);
        var admission = Registry.PodAdmission.Create(pod, null, Registry.WriteContext.For("default"));
        Assert.False(admission.Ok);
        Assert.Contains(error, admission.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Probes_get_kubernetes_defaults()
    {
        var pod = Yaml.Pod("""
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: app
                image: kubetm/app
                readinessProbe: {httpGet: {path: /ready, port: 8080}}
            """);
        var probe = Defaulting.PodDefaults.Apply(pod).Spec.Containers[0].ReadinessProbe;
        Assert.Equal((1, 10, 1, 3, "HTTP"), (probe.TimeoutSeconds, probe.PeriodSeconds, probe.SuccessThreshold, probe.FailureThreshold, probe.HttpGet.Scheme));
    }
}

using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>Jobs through the control plane's decisions: the job controller follows each write and each pod's report.</summary>
public class JobControllerTests
{
    private DateTime _now = new(2026, 12, 7, 12, 0, 0, DateTimeKind.Utc);
    private int _uid;
    private long _rv;
    private readonly ControlPlane.ControlPlane _cp;

    public JobControllerTests()
    {
        _cp = new ControlPlane.ControlPlane(new ControlPlaneConfig(ServiceNetworkConfig.Default, []), () => _now, () => "uid-" + ++_uid);
        Commit(_cp.Bootstrap());
        foreach (var i in new[] { 1, 2, 3 }) Commit(_cp.RegisterNode($"k8s-worker{i}", $"127.0.1.{i}"));
    }

    private Decision Commit(Decision d)
    {
        Assert.True(d.Ok, d.Error?.KubectlMessage());
        _rv++;
        foreach (var change in d.Changes)
        {
            change.Object.Object.Metadata.ResourceVersion = _rv.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _cp.Apply(change, _rv);
        }
        d.Transaction.Commit();
        return d;
    }

    private static V1Job Job(string name, string extra = "", string restartPolicy = "Never") => (V1Job)KubeObjects.LoadAll($$"""
        apiVersion: batch/v1
        kind: Job
        metadata: {name: {{name}}}
        spec:
          {{(extra.Length == 0 ? "suspend: false" : extra)}}
          template:
            spec:
              restartPolicy: {{restartPolicy}}
              containers: [{name: w, image: kubetm/app, command: [echo, hi]}]
        """).Single();

    private V1Job Stored(string name) => _cp.Store.Get<V1Job>(ResourceKind.Job, "default", name)!;

    private List<V1Pod> Pods(string job) => _cp.Store.All<V1Pod>(ResourceKind.Pod)
        .Where(p => ControllerRefs.ControllerOf(p.Metadata)?.Name == job).OrderBy(p => p.Metadata.Name, StringComparer.Ordinal).ToList();

    private void Finish(V1Pod pod, string phase) =>
        Commit(_cp.ReportPodStatus("default", pod.Metadata.Name, pod.Metadata.Uid, new V1PodStatus { Phase = phase, PodIP = "127.244.1.9", PodIPs = [new V1PodIP { Ip = "127.244.1.9" }] }));

    [Fact]
    public void A_job_keeps_parallelism_pods_running_until_its_completions_succeeded()
    {
        Commit(_cp.Create(ResourceKind.Job, "default", Job("batch", "completions: 3\n  parallelism: 2")));
        var job = Stored("batch");
        // The controller's selector and labels name the Job's uid; its pods carry them and point at it.
        Assert.Equal(job.Metadata.Uid, job.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"]);
        Assert.Equal((6, "NonIndexed"), (job.Spec.BackoffLimit, job.Spec.CompletionMode));
        var first = Pods("batch");
        Assert.Equal(2, first.Count);
        Assert.All(first, p => Assert.Equal("batch", p.Metadata.Labels["batch.kubernetes.io/job-name"]));
        Assert.Equal(2, Stored("batch").Status.Active);

        Finish(first[0], "Succeeded");
        Assert.Equal(3, Pods("batch").Count); // one more started: 2 running, 1 done, 3 wanted
        Assert.Equal((1, 2), (Stored("batch").Status.Succeeded, Stored("batch").Status.Active));
        foreach (var pod in Pods("batch").Where(p => p.Status?.Phase != "Succeeded")) Finish(pod, "Succeeded");
        var done = Stored("batch");
        Assert.Equal(3, done.Status.Succeeded);
        Assert.Null(done.Status.Active);
        Assert.Equal("Complete", JobController.Finished(done));
        Assert.Equal(_now, done.Status.CompletionTime);
        Assert.Equal(3, Pods("batch").Count); // nothing more once complete

        // A write to the main resource (a label, say) keeps the controller's status.
        var relabelled = Stored("batch");
        relabelled = KubeObjects.Clone(relabelled);
        relabelled.Metadata.Labels = new Dictionary<string, string> { ["team"] = "a" };
        relabelled.Status = null;
        Commit(_cp.Update(ResourceKind.Job, "default", "batch", relabelled));
        Assert.Equal(("a", "Complete"), (Stored("batch").Metadata.Labels["team"], JobController.Finished(Stored("batch"))));
        // Completed once: the write did not wipe the condition for the controller to find the Job complete again.
        Assert.Single(_cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "Completed" && e.InvolvedObject.Name == "batch");
    }

    [Fact]
    public void More_failed_pods_than_the_backoff_limit_fail_the_job_and_stop_what_runs()
    {
        Commit(_cp.Create(ResourceKind.Job, "default", Job("doomed", "backoffLimit: 1\n  parallelism: 2\n  completions: 2")));
        var pods = Pods("doomed");
        Finish(pods[0], "Failed");
        Assert.Null(JobController.Finished(Stored("doomed"))); // one failure is within the limit: replaced
        Assert.Equal(3, Pods("doomed").Count);
        Finish(Pods("doomed").First(p => p.Status?.Phase != "Failed"), "Failed");
        var job = Stored("doomed");
        Assert.Equal("Failed", JobController.Finished(job));
        Assert.Equal("BackoffLimitExceeded", job.Status.Conditions.Single().Reason);
        Assert.Equal(2, job.Status.Failed);
        // The one still running was asked to stop.
        Assert.NotNull(Assert.Single(Pods("doomed"), p => p.Status?.Phase is not "Failed").Metadata.DeletionTimestamp);
    }

    [Fact]
    public void A_job_must_not_restart_its_pods_Always_and_deleting_it_deletes_them()
    {
        var refused = _cp.Create(ResourceKind.Job, "default", Job("wrong", restartPolicy: "Always"));
        Assert.Equal("The Job \"wrong\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            refused.Error!.KubectlMessage());
        Commit(_cp.Create(ResourceKind.Job, "default", Job("gone")));
        Assert.Single(Pods("gone"));
        Commit(_cp.Delete(ResourceKind.Job, "default", "gone"));
        Assert.Null(_cp.Store.Get<V1Job>(ResourceKind.Job, "default", "gone"));
        Assert.NotNull(Assert.Single(Pods("gone")).Metadata.DeletionTimestamp); // on a Ready node: asked to stop
    }

    [Fact]
    public void A_job_past_its_active_deadline_fails_and_a_finished_one_goes_after_its_ttl()
    {
        Commit(_cp.Create(ResourceKind.Job, "default", Job("slow", "activeDeadlineSeconds: 30")));
        _now = _now.AddSeconds(29);
        Commit(_cp.Resync());
        Assert.Null(JobController.Finished(Stored("slow")));
        _now = _now.AddSeconds(1);
        Commit(_cp.Resync());
        var slow = Stored("slow");
        Assert.Equal(("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"),
            (JobController.Finished(slow), slow.Status.Conditions.Single().Reason, slow.Status.Conditions.Single().Message));
        Assert.NotNull(Assert.Single(Pods("slow")).Metadata.DeletionTimestamp);

        Commit(_cp.Create(ResourceKind.Job, "default", Job("brief", "ttlSecondsAfterFinished: 60")));
        Finish(Assert.Single(Pods("brief")), "Succeeded");
        Assert.Equal("Complete", JobController.Finished(Stored("brief")));
        _now = _now.AddSeconds(59);
        Commit(_cp.Resync());
        Assert.NotNull(_cp.Store.Get<V1Job>(ResourceKind.Job, "default", "brief"));
        _now = _now.AddSeconds(1);
        Commit(_cp.Resync());
        Assert.Null(_cp.Store.Get<V1Job>(ResourceKind.Job, "default", "brief"));
        Assert.Empty(Pods("brief")); // a finished pod goes at once with its Job
    }
}

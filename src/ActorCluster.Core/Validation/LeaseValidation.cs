using ActorCluster.Core.Api;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>coordination.k8s.io/v1 Lease: kube-apiserver's ValidateLeaseSpec, with its messages.</summary>
public static class LeaseValidation
{
    /// <summary>The Kubernetes-defined coordinated leader election strategies (names without a domain prefix).</summary>
    private static readonly string[] Strategies = ["OldestEmulationVersion"];

    public static List<FieldError> ValidateSpec(V1LeaseSpec? spec)
    {
        var errs = new List<FieldError>();
        if (spec is null) return errs;
        var path = FieldPath.Spec;
        if (spec.LeaseDurationSeconds is <= 0)
            errs.Add(FieldError.Invalid(path.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"));
        if (spec.LeaseTransitions is < 0)
            errs.Add(FieldError.Invalid(path.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"));
        // kube-apiserver names this field spec.strategy.strategy (ValidateCoordinatedLeaseStrategy appends the child
        // to a path that already ends in it); a domain-prefixed name is a custom strategy.
        if (spec.Strategy is { } strategy && !strategy.Contains('/', StringComparison.Ordinal) && !Strategies.Contains(strategy))
            errs.Add(FieldError.NotSupported(path.Child("strategy").Child("strategy"), strategy, Strategies));
        if (spec.PreferredHolder is { Length: > 0 } && string.IsNullOrEmpty(spec.Strategy))
            errs.Add(FieldError.Forbidden(path.Child("preferredHolder"), "may only be specified if `strategy` is defined"));
        return errs;
    }
}

using ActorCluster.Core.Api;

namespace ActorCluster.Core.Auth;

/// <summary>What a request asks to do, in RBAC's terms (kube-apiserver's authorizer.Attributes).</summary>
/// <param name="Verb">get, list, watch, create, update, patch, delete, deletecollection (or proxy's get)</param>
/// <param name="Group">the API group, "" for the core group</param>
/// <param name="Namespace">null for cluster-scoped resources and requests across namespaces</param>
public sealed record ResourceAttributes(string Verb, string Group, string Resource, string? Subresource, string? Namespace, string? Name)
{
    /// <summary>The resource as RBAC names it: "services" or "services/proxy".</summary>
    public string QualifiedResource => Subresource is null ? Resource : $"{Resource}/{Subresource}";
}

/// <summary>
/// Who may do what: the built-in rules of this cluster, in the shape of Kubernetes' RBAC defaults.
/// <list type="bullet">
/// <item><c>system:masters</c>: everything (as the cluster-admin binding gives it).</item>
/// <item><c>view</c>: get, list and watch on every resource and its status, but not Secrets (whose contents are
/// credentials) nor the proxy subresources (they reach into workloads) — as Kubernetes' <c>view</c> role.</item>
/// <item>every authenticated user: discovery, version, health, OpenAPI, and asking about itself
/// (SelfSubjectAccessReview, SelfSubjectReview) — as <c>system:discovery</c> and <c>system:basic-user</c>.</item>
/// </list>
/// </summary>
public static class Authorizer
{
    private static readonly HashSet<string> ReadVerbs = ["get", "list", "watch"];

    public static bool Allows(UserInfo user, ResourceAttributes a)
    {
        if (user.Groups.Contains(UserInfo.Masters)) return true;
        if (a.Verb == "create" && a.Namespace is null && a.Subresource is null
            && ((a.Group == "authorization.k8s.io" && a.Resource is "selfsubjectaccessreviews" or "selfsubjectrulesreviews")
                || (a.Group == "authentication.k8s.io" && a.Resource == "selfsubjectreviews")))
            return true;
        return user.Groups.Contains(UserInfo.View) && ReadVerbs.Contains(a.Verb) && a.Subresource is null or "status" or "scale" or "log"
               && !(a.Group.Length == 0 && a.Resource == "secrets");
    }

    /// <summary>One rule of a SelfSubjectRulesReview: verbs on resources of API groups.</summary>
    public sealed record Rule(IReadOnlyList<string> Verbs, IReadOnlyList<string> ApiGroups, IReadOnlyList<string> Resources);

    /// <summary>What a user may do, as the rules <c>kubectl auth can-i --list</c> prints (SelfSubjectRulesReview).</summary>
    public static IReadOnlyList<Rule> RulesFor(UserInfo user, IReadOnlyList<(string Group, string Resource)> resources)
    {
        var rules = new List<Rule>
        {
            new(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            new(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        };
        if (user.Groups.Contains(UserInfo.Masters)) rules.Insert(0, new Rule(["*"], ["*"], ["*"]));
        else if (user.Groups.Contains(UserInfo.View))
        {
            foreach (var group in resources.Where(r => !(r.Group.Length == 0 && r.Resource == "secrets")).GroupBy(r => r.Group))
                rules.Add(new Rule([.. ReadVerbs.Order(StringComparer.Ordinal)], [group.Key], [.. group.SelectMany(r => new[] { r.Resource, r.Resource + "/status" })]));
        }
        return rules;
    }

    /// <summary>
    /// kube-apiserver's 403, word for word: the group-qualified resource (and name) from apierrors.NewForbidden,
    /// then responsewriters.forbiddenMessage (the resource there carries the subresource).
    /// </summary>
    public static ApiError Forbidden(UserInfo user, ResourceAttributes a)
    {
        var groupResource = a.Group.Length == 0 ? a.Resource : $"{a.Resource}.{a.Group}";
        var subject = a.Name is null ? groupResource : $"{groupResource} {GoFormat.Quote(a.Name)}";
        var scope = a.Namespace is null ? "at the cluster scope" : $"in the namespace {GoFormat.Quote(a.Namespace)}";
        var reason = $"User {GoFormat.Quote(user.Name)} cannot {a.Verb} resource {GoFormat.Quote(a.QualifiedResource)} in API group {GoFormat.Quote(a.Group)} {scope}";
        return new ApiError(403, "Forbidden", $"{subject} is forbidden: {reason}", new ApiErrorDetails(a.Name ?? "", a.Group, a.Resource, []));
    }
}

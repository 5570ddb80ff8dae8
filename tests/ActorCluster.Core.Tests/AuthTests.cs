using ActorCluster.Core.Auth;

namespace ActorCluster.Core.Tests;

/// <summary>The static token file as kube-apiserver reads it, and the built-in rules with their 403 messages.</summary>
public sealed class AuthTests
{
    private static readonly UserInfo Admin = new("admin", "admin", [UserInfo.Masters]);
    private static readonly UserInfo Alice = new("alice", "1001", [UserInfo.View]);
    private static readonly UserInfo Bob = new("bob", "1002", []);

    [Fact]
    public void The_token_file_reads_kube_apiservers_format()
    {
        var tokens = StaticTokens.Parse("""
            # comment
            t-admin,admin,0,"system:masters"
            t-alice,alice,1001,"view,dev"

            t-bob,bob,1002
            """);
        Assert.Equal(3, tokens.Count);
        Assert.Equal(new[] { "view", "dev" }, tokens.Authenticate("t-alice")!.Groups);
        Assert.Equal(("bob", "1002"), (tokens.Authenticate("t-bob")!.Name, tokens.Authenticate("t-bob")!.Uid));
        Assert.Empty(tokens.Authenticate("t-bob")!.Groups);
        Assert.Null(tokens.Authenticate("t-alic"));
        Assert.Null(tokens.Authenticate(""));
    }

    [Theory]
    [InlineData("t1,alice", "token file: line 1: expected token,user,uid[,\"group1,group2\"], got 2 field(s)")]
    [InlineData(",alice,1", "token file: line 1: empty token")]
    [InlineData("t1,,1", "token file: line 1: empty user name")]
    [InlineData("t1,a,1\nt1,b,2", "token file: line 2: duplicate token")]
    [InlineData("t1,a,1,\"view", "token file: line 1: unterminated quote")]
    public void A_bad_token_file_is_refused_naming_the_line(string text, string message) =>
        Assert.Equal(message, Assert.Throws<FormatException>(() => StaticTokens.Parse(text)).Message);

    public static TheoryData<UserInfo, string, string?, string, bool> Decisions => new()
    {
        { Admin, "delete", null, "nodes", true },
        { Admin, "get", "proxy", "services", true },
        { Alice, "get", null, "services", true },
        { Alice, "list", null, "nodes", true },
        { Alice, "watch", null, "endpointslices", true },
        { Alice, "get", "status", "pods", true },
        { Alice, "get", "proxy", "services", false },
        { Alice, "create", null, "services", false },
        { Alice, "patch", "status", "services", false },
        { Alice, "delete", null, "pods", false },
        { Bob, "get", null, "services", false },
        { Bob, "list", null, "pods", false },
    };

    [Theory]
    [MemberData(nameof(Decisions))]
    public void Masters_do_everything_viewers_read_and_others_nothing(UserInfo user, string verb, string? subresource, string resource, bool allowed) =>
        Assert.Equal(allowed, Authorizer.Allows(user, new ResourceAttributes(verb, resource == "endpointslices" ? "discovery.k8s.io" : "", resource, subresource, "default", null)));

    [Fact]
    public void Everyone_may_ask_about_itself_and_nothing_else_there()
    {
        Assert.True(Authorizer.Allows(Bob, new ResourceAttributes("create", "authorization.k8s.io", "selfsubjectaccessreviews", null, null, null)));
        Assert.True(Authorizer.Allows(Bob, new ResourceAttributes("create", "authentication.k8s.io", "selfsubjectreviews", null, null, null)));
        Assert.False(Authorizer.Allows(Bob, new ResourceAttributes("create", "authorization.k8s.io", "subjectaccessreviews", null, null, null)));
    }

    [Theory]
    [InlineData("create", "", "services", null, "default", null, "services is forbidden: User \"alice\" cannot create resource \"services\" in API group \"\" in the namespace \"default\"")]
    [InlineData("delete", "", "services", null, "default", "web", "services \"web\" is forbidden: User \"alice\" cannot delete resource \"services\" in API group \"\" in the namespace \"default\"")]
    [InlineData("list", "", "nodes", null, null, null, "nodes is forbidden: User \"alice\" cannot list resource \"nodes\" in API group \"\" at the cluster scope")]
    [InlineData("get", "", "services", "proxy", "default", "web", "services \"web\" is forbidden: User \"alice\" cannot get resource \"services/proxy\" in API group \"\" in the namespace \"default\"")]
    [InlineData("create", "discovery.k8s.io", "endpointslices", null, "team-a", null, "endpointslices.discovery.k8s.io is forbidden: User \"alice\" cannot create resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"team-a\"")]
    public void Refusals_read_as_kube_apiservers(string verb, string group, string resource, string? subresource, string? ns, string? name, string message)
    {
        var error = Authorizer.Forbidden(Alice, new ResourceAttributes(verb, group, resource, subresource, ns, name));
        Assert.Equal((403, "Forbidden", message), (error.Code, error.Reason, error.Message));
        Assert.Equal((name ?? "", group, resource), (error.Details!.Name, error.Details.Group, error.Details.Kind));
    }

    [Fact]
    public void The_rules_a_user_is_shown_are_the_rules_it_is_held_to()
    {
        (string, string)[] resources = [("", "services"), ("discovery.k8s.io", "endpointslices")];
        Assert.Equal(["*"], Authorizer.RulesFor(Admin, resources)[0].Verbs);
        var viewer = Authorizer.RulesFor(Alice, resources);
        Assert.Contains(viewer, r => r.ApiGroups.SequenceEqual([""]) && r.Resources.SequenceEqual(["services", "services/status"]) && r.Verbs.SequenceEqual(["get", "list", "watch"]));
        // Every rule shown holds: a viewer may do each verb on each resource it lists.
        foreach (var rule in viewer)
            foreach (var verb in rule.Verbs)
                foreach (var resource in rule.Resources)
                {
                    var parts = resource.Split('/');
                    Assert.True(Authorizer.Allows(Alice, new ResourceAttributes(verb, rule.ApiGroups[0], parts[0], parts.Length > 1 ? parts[1] : null, null, null)), $"{verb} {resource}");
                }
        Assert.All(Authorizer.RulesFor(Bob, resources), r => Assert.Equal(["create"], r.Verbs));
    }
}

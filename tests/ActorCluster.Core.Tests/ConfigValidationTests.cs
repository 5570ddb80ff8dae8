using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class ConfigValidationTests
{
    private static string Errors(IEnumerable<Api.FieldError> errors) => string.Join("\n", errors.Select(e => e.ToString()));

    [Theory]
    [InlineData("key.name", "")]
    [InlineData("KEY_NAME-1", "")]
    [InlineData(".", "data[.]: Invalid value: \".\": must not be '.'")]
    [InlineData("..", "data[..]: Invalid value: \"..\": must not be '..'")]
    [InlineData("..x", "data[..x]: Invalid value: \"..x\": must not start with '..'")]
    [InlineData("a/b", "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]
    [InlineData("a\n", "data[a\n]: Invalid value: \"a\\n\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")]
    public void ConfigMap_keys_follow_IsConfigMapKey(string key, string expected) =>
        Assert.Equal(expected, Errors(ConfigValidation.ValidateConfigMap(new V1ConfigMap { Data = new Dictionary<string, string> { [key] = "v" } })));

    [Fact]
    public void A_key_in_both_data_and_binaryData_and_an_oversized_ConfigMap_are_refused()
    {
        var both = new V1ConfigMap { Data = new Dictionary<string, string> { ["k"] = "v" }, BinaryData = new Dictionary<string, byte[]> { ["k"] = [1] } };
        Assert.Equal("data[k]: Invalid value: \"k\": duplicate of key present in binaryData", Errors(ConfigValidation.ValidateConfigMap(both)));
        var exactly = new V1ConfigMap { Data = new Dictionary<string, string> { ["a"] = new('x', ConfigValidation.MaxSize - 1) }, BinaryData = new Dictionary<string, byte[]> { ["b"] = [1] } };
        Assert.Empty(ConfigValidation.ValidateConfigMap(exactly));
        exactly.BinaryData["c"] = [2];
        Assert.Equal("[]: Too long: may not be more than 1048576 bytes", Errors(ConfigValidation.ValidateConfigMap(exactly)));
    }

    [Fact]
    public void Immutable_freezes_data_and_itself_but_not_metadata()
    {
        var old = new V1ConfigMap { Immutable = true, Data = new Dictionary<string, string> { ["k"] = "v" } };
        Assert.Empty(ConfigValidation.ValidateConfigMapUpdate(new V1ConfigMap { Immutable = true, Data = new Dictionary<string, string> { ["k"] = "v" }, Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { ["a"] = "b" } } }, old));
        Assert.Equal("immutable: Forbidden: field is immutable when `immutable` is set\ndata: Forbidden: field is immutable when `immutable` is set",
            Errors(ConfigValidation.ValidateConfigMapUpdate(new V1ConfigMap { Data = new Dictionary<string, string> { ["k"] = "w" } }, old)));
        // Not immutable before: anything may change, including setting it.
        Assert.Empty(ConfigValidation.ValidateConfigMapUpdate(new V1ConfigMap { Immutable = true, Data = new Dictionary<string, string>() }, new V1ConfigMap { Data = new Dictionary<string, string> { ["k"] = "v" } }));
        var secret = new V1Secret { Type = "Opaque", Immutable = true, Data = new Dictionary<string, byte[]> { ["k"] = [1, 2] } };
        Assert.Empty(ConfigValidation.ValidateSecretUpdate(new V1Secret { Type = "Opaque", Immutable = true, Data = new Dictionary<string, byte[]> { ["k"] = [1, 2] } }, secret));
        Assert.Equal("data: Forbidden: field is immutable when `immutable` is set",
            Errors(ConfigValidation.ValidateSecretUpdate(new V1Secret { Type = "Opaque", Immutable = true, Data = new Dictionary<string, byte[]> { ["k"] = [1, 3] } }, secret)));
    }

    [Fact]
    public void Secrets_default_to_Opaque_fold_stringData_in_and_keep_their_type()
    {
        var secret = new V1Secret { Data = new Dictionary<string, byte[]> { ["a"] = [1], ["b"] = [2] }, StringData = new Dictionary<string, string> { ["b"] = "two", ["c"] = "three" } };
        ConfigValidation.Prepare(secret);
        Assert.Equal("Opaque", secret.Type);
        Assert.Null(secret.StringData);
        Assert.Equal(new byte[] { 1 }, secret.Data["a"]);
        Assert.Equal("two"u8.ToArray(), secret.Data["b"]);
        Assert.Equal("three"u8.ToArray(), secret.Data["c"]);
        Assert.Equal("type: Invalid value: \"kubernetes.io/tls\": field is immutable",
            Errors(ConfigValidation.ValidateSecretUpdate(new V1Secret { Type = "kubernetes.io/tls", Data = new Dictionary<string, byte[]> { ["tls.crt"] = [], ["tls.key"] = [] } }, secret)));
    }

    [Theory]
    [InlineData("kubernetes.io/tls", "", "data[tls.crt]: Required value\ndata[tls.key]: Required value")]
    [InlineData("kubernetes.io/tls", "tls.crt,tls.key", "")]
    [InlineData("kubernetes.io/basic-auth", "", "data[username]: Required value\ndata[password]: Required value")]
    [InlineData("kubernetes.io/basic-auth", "password", "")]
    [InlineData("kubernetes.io/ssh-auth", "", "data[ssh-privatekey]: Required value")]
    [InlineData("kubernetes.io/dockerconfigjson", "", "data[.dockerconfigjson]: Required value")]
    [InlineData("kubernetes.io/service-account-token", "", "metadata.annotations[kubernetes.io/service-account.name]: Required value")]
    [InlineData("example.com/custom", "", "")]
    public void A_Secret_type_requires_its_keys(string type, string keys, string expected)
    {
        var data = keys.Split(',', StringSplitOptions.RemoveEmptyEntries).ToDictionary(k => k, _ => new byte[] { 1 });
        Assert.Equal(expected, Errors(ConfigValidation.ValidateSecret(new V1Secret { Type = type, Data = data })));
    }

    [Fact]
    public void A_docker_config_must_be_JSON_and_is_never_echoed()
    {
        var secret = new V1Secret { Type = "kubernetes.io/dockerconfigjson", Data = new Dictionary<string, byte[]> { [".dockerconfigjson"] = "{not json"u8.ToArray() } };
        var error = Assert.Single(ConfigValidation.ValidateSecret(secret));
        Assert.StartsWith("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("not json", error.ToString(), StringComparison.Ordinal);
    }
}

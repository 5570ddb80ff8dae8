namespace ActorCluster.Core.Api;

/// <summary>An apimachinery field path such as <c>spec.ports[0].nodePort</c>; immutable.</summary>
public sealed record FieldPath
{
    private readonly string _text;

    private FieldPath(string text) => _text = text;

    public static FieldPath Root(string name) => new(name);

    public static FieldPath Spec { get; } = new("spec");

    public static FieldPath Metadata { get; } = new("metadata");

    public FieldPath Child(string name) => new(_text.Length == 0 ? name : _text + "." + name);

    public FieldPath Index(int i) => new(_text + "[" + i + "]");

    /// <summary>Map keys print as <c>path[key]</c>, as in Go.</summary>
    public FieldPath Key(string key) => new(_text + "[" + key + "]");

    public override string ToString() => _text;
}

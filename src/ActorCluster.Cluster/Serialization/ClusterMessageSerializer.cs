using System.Collections.Concurrent;
using System.IO.Compression;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace ActorCluster.Cluster.Serialization;

/// <summary>
/// Marker for every message that crosses the wire or goes into the journal. All of them are bound to
/// <see cref="ClusterMessageSerializer"/>; none may fall back to Akka's default (Newtonsoft) serializer.
/// </summary>
public interface IClusterMessage;

/// <summary>
/// System.Text.Json for our protocol records, with a stable manifest per type (its simple name, which is
/// part of the journal format: renaming a persisted event type needs a migration). Actor references travel
/// as their full paths and are resolved by the receiving system.
/// </summary>
public sealed class ClusterMessageSerializer : SerializerWithStringManifest
{
    private static readonly ConcurrentDictionary<string, Type> TypesByManifest = new(
        typeof(IClusterMessage).Assembly.GetTypes()
            .Where(t => typeof(IClusterMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .ToDictionary(t => t.Name, t => t));

    private readonly JsonSerializerOptions _options;

    public ClusterMessageSerializer(ExtendedActorSystem system) : base(system)
    {
        _options = new JsonSerializerOptions
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Converters = { new ActorRefConverter(system) },
        };
    }

    public override int Identifier => 7341;

    public override string Manifest(object o) => o.GetType().Name;

    public override byte[] ToBinary(object obj)
    {
        if (obj is not ApiServer.StoreSnapshot) return JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), _options);
        // A snapshot holds the whole store (megabytes of JSON): compressed, it is a fraction of the bytes to write.
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            JsonSerializer.Serialize(gzip, obj, obj.GetType(), _options);
        return buffer.ToArray();
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!TypesByManifest.TryGetValue(manifest, out var type))
            throw new SerializationException($"unknown ActorCluster message manifest '{manifest}'");
        // gzip's magic bytes; JSON starts with '{' (snapshots written before compression still read).
        object? result;
        if (bytes is [0x1f, 0x8b, ..])
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            result = JsonSerializer.Deserialize(gzip, type, _options);
        }
        else result = JsonSerializer.Deserialize(bytes, type, _options);
        return result ?? throw new SerializationException($"empty ActorCluster message '{manifest}'");
    }

    /// <summary>
    /// Kubernetes objects inside our messages are JSON already: written as raw JSON (no escaping of every quote,
    /// half the size) and read back as its text.
    /// </summary>
    public sealed class RawJsonConverter : JsonConverter<string>
    {
        public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.String) return reader.GetString()!;
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.GetRawText();
        }

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value, skipInputValidation: true);
    }

    private sealed class ActorRefConverter(ExtendedActorSystem system) : JsonConverter<IActorRef>
    {
        public override IActorRef Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var path = reader.GetString();
            return string.IsNullOrEmpty(path) ? ActorRefs.Nobody : system.Provider.ResolveActorRef(path);
        }

        public override void Write(Utf8JsonWriter writer, IActorRef value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Akka.Serialization.Serialization.SerializedActorPath(value));
    }
}

using System.Text;
using System.Text.Json.Nodes;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;

namespace ActorCluster.Api;

/// <summary>
/// Some kubectl commands (create namespace, ...) send Kubernetes protobuf ("k8s\0" + runtime.Unknown). We read the
/// envelope and the object's metadata (name, generateName, namespace, labels, annotations), which is all a
/// Namespace carries; other kinds in protobuf are refused with 415 so the client can use JSON.
/// </summary>
public static class ProtobufBodies
{
    public const string ContentType = "application/vnd.kubernetes.protobuf";

    public static string ToJson(byte[] body, ResourceKind kind)
    {
        if (kind != ResourceKind.Namespace)
            throw new ApiErrorException(new ApiError(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"));
        if (body.Length < 4 || body[0] != 'k' || body[1] != '8' || body[2] != 's' || body[3] != 0)
            throw new ApiErrorException(ApiError.BadRequest("protobuf body without the k8s envelope"));
        byte[]? raw = null;
        foreach (var (field, value) in Fields(body.AsSpan(4).ToArray()))
        {
            if (field == 2) raw = value;
        }
        if (raw is null) throw new ApiErrorException(ApiError.BadRequest("protobuf body without an object"));
        var metadata = new JsonObject();
        foreach (var (field, value) in Fields(raw))
        {
            if (field != 1) continue; // spec and status of a Namespace carry nothing a client sets on create
            foreach (var (f, v) in Fields(value))
            {
                switch (f)
                {
                    case 1: metadata["name"] = Encoding.UTF8.GetString(v); break;
                    case 2: metadata["generateName"] = Encoding.UTF8.GetString(v); break;
                    case 3: metadata["namespace"] = Encoding.UTF8.GetString(v); break;
                    case 11 or 12:
                        var map = (metadata[f == 11 ? "labels" : "annotations"] ??= new JsonObject()).AsObject();
                        string? key = null, val = null;
                        foreach (var (ef, ev) in Fields(v))
                        {
                            if (ef == 1) key = Encoding.UTF8.GetString(ev);
                            if (ef == 2) val = Encoding.UTF8.GetString(ev);
                        }
                        if (key is not null) map[key] = val ?? "";
                        break;
                }
            }
        }
        return new JsonObject { ["apiVersion"] = kind.ApiVersion, ["kind"] = kind.Kind, ["metadata"] = metadata }.ToJsonString();
    }

    /// <summary>
    /// A SelfSubjectAccessReview in protobuf (what <c>kubectl auth can-i</c> sends), as the JSON the API reads:
    /// spec.resourceAttributes (namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7) or
    /// spec.nonResourceAttributes (path 1, verb 2), from k8s.io/api/authorization/v1/generated.proto.
    /// </summary>
    public static string SelfSubjectAccessReviewToJson(byte[] body)
    {
        if (body.Length < 4 || body[0] != 'k' || body[1] != '8' || body[2] != 's' || body[3] != 0)
            throw new ApiErrorException(ApiError.BadRequest("protobuf body without the k8s envelope"));
        var raw = Fields(body.AsSpan(4).ToArray()).Where(f => f.Field == 2).Select(f => f.Value).FirstOrDefault()
                  ?? throw new ApiErrorException(ApiError.BadRequest("protobuf body without an object"));
        var spec = new JsonObject();
        foreach (var (field, value) in Fields(raw).Where(f => f.Field == 2).SelectMany(f => Fields(f.Value)))
        {
            string[] names = field == 1
                ? ["namespace", "verb", "group", "version", "resource", "subresource", "name"]
                : field == 2 ? ["path", "verb"] : [];
            var attributes = new JsonObject();
            foreach (var (f, v) in Fields(value))
            {
                if (f >= 1 && f <= names.Length) attributes[names[f - 1]] = Encoding.UTF8.GetString(v);
            }
            if (names.Length > 0) spec[field == 1 ? "resourceAttributes" : "nonResourceAttributes"] = attributes;
        }
        return new JsonObject { ["apiVersion"] = "authorization.k8s.io/v1", ["kind"] = "SelfSubjectAccessReview", ["spec"] = spec }.ToJsonString();
    }

    /// <summary>The length-delimited fields of a protobuf message (varints and fixed fields are skipped).</summary>
    private static IEnumerable<(int Field, byte[] Value)> Fields(byte[] message)
    {
        var fields = new List<(int, byte[])>();
        var i = 0;
        while (i < message.Length)
        {
            var tag = ReadVarint(message, ref i);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0: ReadVarint(message, ref i); break;
                case 1: i += 8; break;
                case 5: i += 4; break;
                case 2:
                    var length = (int)ReadVarint(message, ref i);
                    if (length < 0 || i + length > message.Length) throw new ApiErrorException(ApiError.BadRequest("truncated protobuf body"));
                    fields.Add((field, message[i..(i + length)]));
                    i += length;
                    break;
                default:
                    throw new ApiErrorException(ApiError.BadRequest("unsupported protobuf wire type"));
            }
        }
        return fields;
    }

    private static ulong ReadVarint(byte[] data, ref int i)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64 && i < data.Length; shift += 7)
        {
            var b = data[i++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new ApiErrorException(ApiError.BadRequest("truncated protobuf body"));
    }
}

using System.Text;
using System.Text.Json.Nodes;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;

namespace ActorCluster.Api;

/// <summary>
/// Some kubectl commands send Kubernetes protobuf ("k8s\0" + runtime.Unknown): <c>create namespace</c>, <c>create
/// service clusterip|nodeport|loadbalancer|externalname</c>, <c>create deployment</c>, <c>create configmap</c>,
/// <c>create secret</c>, <c>create serviceaccount</c>, <c>create job</c>, <c>auth can-i</c>. We decode
/// what those carry, with the field numbers of Kubernetes' own generated.proto (k8s.io/api core/v1 and apps/v1,
/// apimachinery meta/v1 and intstr), into the JSON the API reads; other kinds in protobuf are refused with 415 so the
/// client can send JSON.
/// </summary>
public static class ProtobufBodies
{
    public const string ContentType = "application/vnd.kubernetes.protobuf";

    public static string ToJson(byte[] body, ResourceKind kind)
    {
        if (kind != ResourceKind.Namespace && kind != ResourceKind.Service && kind != ResourceKind.Deployment && kind != ResourceKind.ConfigMap && kind != ResourceKind.Secret
            && kind != ResourceKind.ServiceAccount && kind != ResourceKind.Job)
            throw new ApiErrorException(new ApiError(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml"));
        var raw = Envelope(body);
        var obj = new JsonObject { ["apiVersion"] = kind.ApiVersion, ["kind"] = kind.Kind, ["metadata"] = new JsonObject() };
        if (kind == ResourceKind.ConfigMap || kind == ResourceKind.Secret) return ConfigObject(raw, obj, kind);
        if (kind == ResourceKind.ServiceAccount) return ServiceAccount(raw, obj);
        foreach (var field in Fields(raw))
        {
            // Object: metadata 1, spec 2 (a Namespace's spec and the status of either carry nothing a client sets).
            if (field.Number == 1 && field.Bytes is { } meta) obj["metadata"] = ObjectMeta(meta);
            if (field.Number == 2 && field.Bytes is { } spec && kind == ResourceKind.Service) obj["spec"] = ServiceSpec(spec);
            if (field.Number == 2 && field.Bytes is { } dspec && kind == ResourceKind.Deployment) obj["spec"] = DeploymentSpec(dspec);
            if (field.Number == 2 && field.Bytes is { } jspec && kind == ResourceKind.Job) obj["spec"] = JobSpec(jspec);
        }
        return obj.ToJsonString();
    }

    /// <summary>
    /// core/v1 ConfigMap (metadata 1, data 2, binaryData 3, immutable 4) or Secret (metadata 1, data 2, type 3,
    /// stringData 4, immutable 5), as <c>kubectl create configmap|secret</c> send them; bytes values as base64.
    /// </summary>
    private static string ConfigObject(byte[] raw, JsonObject obj, ResourceKind kind)
    {
        var secret = kind == ResourceKind.Secret;
        foreach (var f in Fields(raw))
        {
            switch (f.Number, secret)
            {
                case (1, _): obj["metadata"] = ObjectMeta(f.Bytes ?? []); break;
                case (2, false): MapEntry((obj["data"] ??= new JsonObject()).AsObject(), f); break;
                case (2, true): MapEntry((obj["data"] ??= new JsonObject()).AsObject(), f, base64: true); break;
                case (3, false): MapEntry((obj["binaryData"] ??= new JsonObject()).AsObject(), f, base64: true); break;
                case (3, true): SetText(obj, "type", f.Text); break;
                case (4, false) or (5, true): obj["immutable"] = f.Value != 0; break;
                case (4, true): MapEntry((obj["stringData"] ??= new JsonObject()).AsObject(), f); break;
            }
        }
        return obj.ToJsonString();
    }

    /// <summary>core/v1 ServiceAccount as <c>kubectl create serviceaccount</c> sends it: metadata 1, automountServiceAccountToken 4.</summary>
    private static string ServiceAccount(byte[] raw, JsonObject obj)
    {
        foreach (var f in Fields(raw))
        {
            if (f.Number == 1) obj["metadata"] = ObjectMeta(f.Bytes ?? []);
            if (f.Number == 4) obj["automountServiceAccountToken"] = f.Value != 0;
        }
        return obj.ToJsonString();
    }

    /// <summary>The object inside runtime.Unknown (raw, field 2) after the "k8s\0" magic.</summary>
    private static byte[] Envelope(byte[] body)
    {
        if (body.Length < 4 || body[0] != 'k' || body[1] != '8' || body[2] != 's' || body[3] != 0)
            throw new ApiErrorException(ApiError.BadRequest("protobuf body without the k8s envelope"));
        return Fields(body.AsSpan(4).ToArray()).Where(f => f.Number == 2).Select(f => f.Bytes).FirstOrDefault()
               ?? throw new ApiErrorException(ApiError.BadRequest("protobuf body without an object"));
    }

    /// <summary>meta/v1 ObjectMeta: name 1, generateName 2, namespace 3, labels 11, annotations 12.</summary>
    private static JsonObject ObjectMeta(byte[] message)
    {
        var metadata = new JsonObject();
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: SetText(metadata, "name", f.Text); break;
                case 2: SetText(metadata, "generateName", f.Text); break;
                case 3: SetText(metadata, "namespace", f.Text); break;
                case 11 or 12: MapEntry((metadata[f.Number == 11 ? "labels" : "annotations"] ??= new JsonObject()).AsObject(), f); break;
            }
        }
        return metadata;
    }

    /// <summary>
    /// core/v1 ServiceSpec: ports 1, selector 2, clusterIP 3, type 4, externalIPs 5, sessionAffinity 7,
    /// loadBalancerIP 8, loadBalancerSourceRanges 9, externalName 10, externalTrafficPolicy 11, healthCheckNodePort 12,
    /// publishNotReadyAddresses 13, sessionAffinityConfig 14, ipFamilyPolicy 17, clusterIPs 18, ipFamilies 19,
    /// allocateLoadBalancerNodePorts 20, loadBalancerClass 21, internalTrafficPolicy 22, trafficDistribution 23.
    /// </summary>
    private static JsonObject ServiceSpec(byte[] message)
    {
        var spec = new JsonObject();
        void Add(string name, JsonNode? value) => (spec[name] ??= new JsonArray()).AsArray().Add(value);
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: Add("ports", ServicePort(f.Bytes ?? [])); break;
                case 2: MapEntry((spec["selector"] ??= new JsonObject()).AsObject(), f); break;
                case 3: SetText(spec, "clusterIP", f.Text); break;
                case 4: SetText(spec, "type", f.Text); break;
                case 5: Add("externalIPs", f.Text); break;
                case 7: SetText(spec, "sessionAffinity", f.Text); break;
                case 8: SetText(spec, "loadBalancerIP", f.Text); break;
                case 9: Add("loadBalancerSourceRanges", f.Text); break;
                case 10: SetText(spec, "externalName", f.Text); break;
                case 11: SetText(spec, "externalTrafficPolicy", f.Text); break;
                case 12: spec["healthCheckNodePort"] = f.Int32; break;
                case 13: spec["publishNotReadyAddresses"] = f.Value != 0; break;
                case 14:
                    // SessionAffinityConfig.clientIP 1 -> ClientIPConfig.timeoutSeconds 1.
                    var clientIP = new JsonObject();
                    foreach (var c in Fields(f.Bytes ?? []).Where(c => c.Number == 1))
                        foreach (var t in Fields(c.Bytes ?? []).Where(t => t.Number == 1)) clientIP["timeoutSeconds"] = t.Int32;
                    spec["sessionAffinityConfig"] = new JsonObject { ["clientIP"] = clientIP };
                    break;
                case 17: SetText(spec, "ipFamilyPolicy", f.Text); break;
                case 18: Add("clusterIPs", f.Text); break;
                case 19: Add("ipFamilies", f.Text); break;
                case 20: spec["allocateLoadBalancerNodePorts"] = f.Value != 0; break;
                case 21: SetText(spec, "loadBalancerClass", f.Text); break;
                case 22: SetText(spec, "internalTrafficPolicy", f.Text); break;
                case 23: SetText(spec, "trafficDistribution", f.Text); break;
            }
        }
        return spec;
    }

    /// <summary>core/v1 ServicePort: name 1, protocol 2, port 3, targetPort 4 (intstr: type 1, intVal 2, strVal 3), nodePort 5, appProtocol 6.</summary>
    private static JsonObject ServicePort(byte[] message)
    {
        var port = new JsonObject();
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: SetText(port, "name", f.Text); break;
                case 2: SetText(port, "protocol", f.Text); break;
                case 3: port["port"] = f.Int32; break;
                case 4: port["targetPort"] = IntOrString(f.Bytes ?? []); break;
                case 5: port["nodePort"] = f.Int32; break;
                case 6: SetText(port, "appProtocol", f.Text); break;
            }
        }
        return port;
    }

    /// <summary>
    /// A string field as Go's JSON writes it (omitempty): Kubernetes' protobuf carries every string field, empty or
    /// not, and an empty one must not become a field the JSON path would not have (a template would then differ from
    /// the same template sent as JSON).
    /// </summary>
    private static void SetText(JsonObject target, string name, string value)
    {
        if (value.Length > 0) target[name] = value;
    }

    /// <summary>intstr.IntOrString: type 1 (0 int, 1 string), intVal 2, strVal 3.</summary>
    private static JsonNode IntOrString(byte[] message)
    {
        long type = 0;
        int? intVal = null;
        string? strVal = null;
        foreach (var t in Fields(message))
        {
            if (t.Number == 1) type = (long)t.Value;
            if (t.Number == 2) intVal = t.Int32;
            if (t.Number == 3) strVal = t.Text;
        }
        return type == 1 ? JsonValue.Create(strVal ?? "") : JsonValue.Create(intVal ?? 0);
    }

    /// <summary>
    /// apps/v1 DeploymentSpec: replicas 1, selector 2, template 3, strategy 4 (type 1, rollingUpdate 2: maxUnavailable 1,
    /// maxSurge 2), minReadySeconds 5, revisionHistoryLimit 6, paused 7, progressDeadlineSeconds 9.
    /// </summary>
    /// <summary>
    /// batch/v1 JobSpec (what <c>kubectl create job</c> sends): parallelism 1, completions 2, activeDeadlineSeconds 3,
    /// selector 4, manualSelector 5, template 6, backoffLimit 7, ttlSecondsAfterFinished 8, completionMode 9, suspend 10.
    /// </summary>
    private static JsonObject JobSpec(byte[] message)
    {
        var spec = new JsonObject();
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: spec["parallelism"] = f.Int32; break;
                case 2: spec["completions"] = f.Int32; break;
                case 3: spec["activeDeadlineSeconds"] = (long)f.Value; break;
                case 4: spec["selector"] = LabelSelector(f.Bytes ?? []); break;
                case 5: spec["manualSelector"] = f.Value != 0; break;
                case 6: spec["template"] = PodTemplateSpec(f.Bytes ?? []); break;
                case 7: spec["backoffLimit"] = f.Int32; break;
                case 8: spec["ttlSecondsAfterFinished"] = f.Int32; break;
                case 9: SetText(spec, "completionMode", f.Text); break;
                case 10: spec["suspend"] = f.Value != 0; break;
            }
        }
        return spec;
    }

    private static JsonObject DeploymentSpec(byte[] message)
    {
        var spec = new JsonObject();
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: spec["replicas"] = f.Int32; break;
                case 2: spec["selector"] = LabelSelector(f.Bytes ?? []); break;
                case 3: spec["template"] = PodTemplateSpec(f.Bytes ?? []); break;
                case 4:
                    var strategy = new JsonObject();
                    foreach (var s in Fields(f.Bytes ?? []))
                    {
                        if (s.Number == 1) SetText(strategy, "type", s.Text);
                        if (s.Number != 2) continue;
                        var rolling = new JsonObject();
                        foreach (var r in Fields(s.Bytes ?? []))
                        {
                            if (r.Number == 1) rolling["maxUnavailable"] = IntOrString(r.Bytes ?? []);
                            if (r.Number == 2) rolling["maxSurge"] = IntOrString(r.Bytes ?? []);
                        }
                        strategy["rollingUpdate"] = rolling;
                    }
                    spec["strategy"] = strategy;
                    break;
                case 5: if (f.Int32 != 0) spec["minReadySeconds"] = f.Int32; break;
                case 6: spec["revisionHistoryLimit"] = f.Int32; break;
                case 7: if (f.Value != 0) spec["paused"] = true; break;
                case 9: spec["progressDeadlineSeconds"] = f.Int32; break;
            }
        }
        return spec;
    }

    /// <summary>meta/v1 LabelSelector: matchLabels 1, matchExpressions 2 (key 1, operator 2, values 3).</summary>
    private static JsonObject LabelSelector(byte[] message)
    {
        var selector = new JsonObject();
        foreach (var f in Fields(message))
        {
            if (f.Number == 1) MapEntry((selector["matchLabels"] ??= new JsonObject()).AsObject(), f);
            if (f.Number != 2) continue;
            var requirement = new JsonObject();
            foreach (var r in Fields(f.Bytes ?? []))
            {
                if (r.Number == 1) SetText(requirement, "key", r.Text);
                if (r.Number == 2) SetText(requirement, "operator", r.Text);
                if (r.Number == 3) (requirement["values"] ??= new JsonArray()).AsArray().Add(r.Text);
            }
            (selector["matchExpressions"] ??= new JsonArray()).AsArray().Add(requirement);
        }
        return selector;
    }

    /// <summary>core/v1 PodTemplateSpec: metadata 1, spec 2.</summary>
    private static JsonObject PodTemplateSpec(byte[] message)
    {
        var template = new JsonObject();
        foreach (var f in Fields(message))
        {
            if (f.Number == 1) template["metadata"] = ObjectMeta(f.Bytes ?? []);
            if (f.Number == 2) template["spec"] = PodSpec(f.Bytes ?? []);
        }
        return template;
    }

    /// <summary>
    /// core/v1 PodSpec, the fields a generator or a simple template sets: containers 2, restartPolicy 3,
    /// terminationGracePeriodSeconds 4, dnsPolicy 6, nodeSelector 7, serviceAccountName 8, nodeName 10, hostname 16,
    /// subdomain 17, schedulerName 19, initContainers 20.
    /// </summary>
    private static JsonObject PodSpec(byte[] message)
    {
        var spec = new JsonObject();
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 2 or 20: (spec[f.Number == 2 ? "containers" : "initContainers"] ??= new JsonArray()).AsArray().Add(Container(f.Bytes ?? [])); break;
                case 3: SetText(spec, "restartPolicy", f.Text); break;
                case 4: spec["terminationGracePeriodSeconds"] = (long)f.Value; break;
                case 6: SetText(spec, "dnsPolicy", f.Text); break;
                case 7: MapEntry((spec["nodeSelector"] ??= new JsonObject()).AsObject(), f); break;
                case 8: SetText(spec, "serviceAccountName", f.Text); break;
                case 10: SetText(spec, "nodeName", f.Text); break;
                case 16: SetText(spec, "hostname", f.Text); break;
                case 17: SetText(spec, "subdomain", f.Text); break;
                case 19: SetText(spec, "schedulerName", f.Text); break;
            }
        }
        return spec;
    }

    /// <summary>
    /// core/v1 Container: name 1, image 2, command 3, args 4, workingDir 5, ports 6 (name 1, hostPort 2, containerPort 3,
    /// protocol 4, hostIP 5), env 7 (name 1, value 2), resources 8 (limits 1, requests 2: map of Quantity, string 1),
    /// terminationMessagePath 13, imagePullPolicy 14, terminationMessagePolicy 20.
    /// </summary>
    private static JsonObject Container(byte[] message)
    {
        var container = new JsonObject();
        void Add(string name, JsonNode? value) => (container[name] ??= new JsonArray()).AsArray().Add(value);
        foreach (var f in Fields(message))
        {
            switch (f.Number)
            {
                case 1: SetText(container, "name", f.Text); break;
                case 2: SetText(container, "image", f.Text); break;
                case 3: Add("command", f.Text); break;
                case 4: Add("args", f.Text); break;
                case 5: SetText(container, "workingDir", f.Text); break;
                case 6:
                    var port = new JsonObject();
                    foreach (var p in Fields(f.Bytes ?? []))
                    {
                        switch (p.Number)
                        {
                            case 1: SetText(port, "name", p.Text); break;
                            case 2: if (p.Int32 != 0) port["hostPort"] = p.Int32; break;
                            case 3: port["containerPort"] = p.Int32; break;
                            case 4: SetText(port, "protocol", p.Text); break;
                            case 5: SetText(port, "hostIP", p.Text); break;
                        }
                    }
                    Add("ports", port);
                    break;
                case 7:
                    var env = new JsonObject();
                    foreach (var e in Fields(f.Bytes ?? []))
                    {
                        if (e.Number == 1) SetText(env, "name", e.Text);
                        if (e.Number == 2) SetText(env, "value", e.Text);
                    }
                    Add("env", env);
                    break;
                case 8:
                    var resources = new JsonObject();
                    foreach (var r in Fields(f.Bytes ?? []).Where(r => r.Number is 1 or 2))
                    {
                        string? key = null, quantity = null;
                        foreach (var entry in Fields(r.Bytes ?? []))
                        {
                            if (entry.Number == 1) key = entry.Text;
                            if (entry.Number == 2) quantity = Fields(entry.Bytes ?? []).FirstOrDefault(q => q.Number == 1).Text;
                        }
                        if (key is not null) (resources[r.Number == 1 ? "limits" : "requests"] ??= new JsonObject()).AsObject()[key] = quantity ?? "0";
                    }
                    container["resources"] = resources;
                    break;
                case 13: SetText(container, "terminationMessagePath", f.Text); break;
                case 14: SetText(container, "imagePullPolicy", f.Text); break;
                case 20: SetText(container, "terminationMessagePolicy", f.Text); break;
            }
        }
        return container;
    }

    /// <summary>A map&lt;string, string&gt; entry (key 1, value 2) added to <paramref name="map"/>; a map&lt;string, bytes&gt; one as base64.</summary>
    private static void MapEntry(JsonObject map, ProtoField entry, bool base64 = false)
    {
        string? key = null, value = null;
        foreach (var f in Fields(entry.Bytes ?? []))
        {
            if (f.Number == 1) key = f.Text;
            if (f.Number == 2) value = base64 ? Convert.ToBase64String(f.Bytes ?? []) : f.Text;
        }
        if (key is not null) map[key] = value ?? "";
    }

    /// <summary>
    /// A SelfSubjectAccessReview in protobuf (what <c>kubectl auth can-i</c> sends), as the JSON the API reads:
    /// spec.resourceAttributes (namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7) or
    /// spec.nonResourceAttributes (path 1, verb 2), from k8s.io/api/authorization/v1/generated.proto.
    /// </summary>
    public static string SelfSubjectAccessReviewToJson(byte[] body)
    {
        var raw = Envelope(body);
        var spec = new JsonObject();
        foreach (var attr in Fields(raw).Where(f => f.Number == 2).SelectMany(f => Fields(f.Bytes ?? [])))
        {
            string[] names = attr.Number == 1
                ? ["namespace", "verb", "group", "version", "resource", "subresource", "name"]
                : attr.Number == 2 ? ["path", "verb"] : [];
            var attributes = new JsonObject();
            foreach (var f in Fields(attr.Bytes ?? []))
            {
                if (f.Number >= 1 && f.Number <= names.Length) attributes[names[f.Number - 1]] = f.Text;
            }
            if (names.Length > 0) spec[attr.Number == 1 ? "resourceAttributes" : "nonResourceAttributes"] = attributes;
        }
        return new JsonObject { ["apiVersion"] = "authorization.k8s.io/v1", ["kind"] = "SelfSubjectAccessReview", ["spec"] = spec }.ToJsonString();
    }

    /// <summary>One field of a protobuf message: the bytes of a length-delimited one, the number of a varint.</summary>
    private readonly record struct ProtoField(int Number, byte[]? Bytes, ulong Value)
    {
        public string Text => Encoding.UTF8.GetString(Bytes ?? []);

        /// <summary>An int32 varint (a negative one is sent as ten bytes of two's complement).</summary>
        public int Int32 => unchecked((int)(long)Value);
    }

    /// <summary>The fields of a protobuf message (fixed 32/64-bit fields are skipped: none of ours has one).</summary>
    private static List<ProtoField> Fields(byte[] message)
    {
        var fields = new List<ProtoField>();
        var i = 0;
        while (i < message.Length)
        {
            var tag = ReadVarint(message, ref i);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0: fields.Add(new ProtoField(field, null, ReadVarint(message, ref i))); break;
                case 1: i += 8; break;
                case 5: i += 4; break;
                case 2:
                    var length = ReadVarint(message, ref i);
                    if (length > (ulong)(message.Length - i)) throw new ApiErrorException(ApiError.BadRequest("truncated protobuf body"));
                    fields.Add(new ProtoField(field, message[i..(i + (int)length)], 0));
                    i += (int)length;
                    break;
                default:
                    throw new ApiErrorException(ApiError.BadRequest("unsupported protobuf wire type"));
            }
        }
        if (i > message.Length) throw new ApiErrorException(ApiError.BadRequest("truncated protobuf body"));
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

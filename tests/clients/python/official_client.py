"""The official Kubernetes Python client (Debian's python3-kubernetes) against an ActorCluster API, unmodified.

Run by ActorCluster.Api.Tests (OtherClientsTests) with the cluster's kubeconfig and a namespace-free name prefix.
Each step checks what kube-apiserver would answer; the first difference ends the script with exit code 1 and says
which step and what came back.
"""
import base64
import json
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

kubeconfig, prefix = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=kubeconfig)
v1 = client.CoreV1Api()
ns = "default"


def check(step, ok, got=None):
    if not ok:
        print(f"FAIL {step}: {got!r}", flush=True)
        sys.exit(1)
    print(f"ok   {step}", flush=True)


def service(name, labels=None, node_port=None):
    port = client.V1ServicePort(port=80, target_port=8080, node_port=node_port)
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1ServiceSpec(type="NodePort" if node_port else "ClusterIP", selector={"app": name}, ports=[port]))


# Create, read back, list by label.
created = v1.create_namespaced_service(ns, service(f"{prefix}-a", {"client": prefix}))
check("create returns a ClusterIP and a version", created.spec.cluster_ip and created.metadata.resource_version, created.metadata)
read = v1.read_namespaced_service(f"{prefix}-a", ns)
check("read returns the same object", read.metadata.uid == created.metadata.uid, read.metadata.uid)
listed = v1.list_namespaced_service(ns, label_selector=f"client={prefix}")
check("list by label selector", [s.metadata.name for s in listed.items] == [f"{prefix}-a"], [s.metadata.name for s in listed.items])
check("list carries a resourceVersion", int(listed.metadata.resource_version) >= int(created.metadata.resource_version), listed.metadata)

# A watch from the list's version (allowWatchBookmarks, as informers ask) sees a later create.
events = []
done = threading.Event()


def watch_services():
    w = watch.Watch()
    for e in w.stream(v1.list_namespaced_service, ns, resource_version=listed.metadata.resource_version,
                      allow_watch_bookmarks=True, timeout_seconds=20):
        if e["type"] != "BOOKMARK":
            events.append((e["type"], e["object"].metadata.name))
        if (("ADDED", f"{prefix}-b") in events):
            w.stop()
    done.set()


t = threading.Thread(target=watch_services, daemon=True)
t.start()
v1.create_namespaced_service(ns, service(f"{prefix}-b", {"client": prefix}))
done.wait(30)
check("watch from the list's version sees the next create", ("ADDED", f"{prefix}-b") in events, events)

# Patch (the client sends a merge or strategic merge patch for a dict body).
patched = v1.patch_namespaced_service(f"{prefix}-a", ns, {"metadata": {"labels": {"patched": "yes"}}})
check("patch adds a label and keeps the others", patched.metadata.labels == {"client": prefix, "patched": "yes"}, patched.metadata.labels)

# Optimistic concurrency: replacing with the old version is a 409 Conflict.
stale = created
stale.metadata.labels = {"client": prefix, "stale": "yes"}
try:
    v1.replace_namespaced_service(f"{prefix}-a", ns, stale)
    check("replace with a stale resourceVersion is refused", False, "accepted")
except ApiException as e:
    body = json.loads(e.body)
    check("replace with a stale resourceVersion is 409 Conflict", e.status == 409 and body["reason"] == "Conflict", (e.status, body))

# Validation in Kubernetes' words.
try:
    v1.create_namespaced_service(ns, service(f"{prefix}-bad", node_port=20000))
    check("a node port out of range is refused", False, "accepted")
except ApiException as e:
    body = json.loads(e.body)
    check("a node port out of range is 422 with the apiserver's message",
          e.status == 422 and "spec.ports[0].nodePort: Invalid value: 20000: provided port is not in the valid range. The range of valid ports is 30000-32767" in body["message"],
          (e.status, body.get("message")))

# Server-side dry run deletes nothing.
v1.delete_namespaced_service(f"{prefix}-b", ns, dry_run="All")
check("delete with dryRun=All keeps the object", v1.read_namespaced_service(f"{prefix}-b", ns).metadata.name == f"{prefix}-b")

# Not found, as a Status.
try:
    v1.read_namespaced_service(f"{prefix}-missing", ns)
    check("a missing object is 404", False, "found")
except ApiException as e:
    check("a missing object is 404 NotFound", e.status == 404 and json.loads(e.body)["reason"] == "NotFound", e.status)

# Delete both; the list is empty again.
v1.delete_namespaced_service(f"{prefix}-a", ns)
v1.delete_namespaced_service(f"{prefix}-b", ns)
left = v1.list_namespaced_service(ns, label_selector=f"client={prefix}")
check("deleted objects are gone from the list", left.items == [], [s.metadata.name for s in left.items])

# ConfigMaps and Secrets: stringData folded into data (base64), a bad key refused in the apiserver's words.
secret = v1.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name=f"{prefix}-secret"), string_data={"password": "s3cret"}))
check("a Secret's stringData comes back as base64 data, type Opaque",
      secret.data == {"password": base64.b64encode(b"s3cret").decode()} and secret.type == "Opaque" and secret.string_data is None, (secret.data, secret.type))
v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"{prefix}-config", labels={"client": prefix}), data={"mode": "fast"}))
check("a ConfigMap lists by label", [c.data for c in v1.list_namespaced_config_map(ns, label_selector=f"client={prefix}").items] == [{"mode": "fast"}])
try:
    v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"{prefix}-bad-config"), data={"a b": "1"}))
    check("a bad config key is refused", False, "accepted")
except ApiException as e:
    check("a bad config key is 422 with the apiserver's message",
          e.status == 422 and "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters" in json.loads(e.body)["message"], e.body)
v1.delete_namespaced_config_map(f"{prefix}-config", ns)
v1.delete_namespaced_secret(f"{prefix}-secret", ns)

# Nodes as the client models them.
nodes = v1.list_node()
check("nodes list with a Ready condition", nodes.items and all(any(c.type == "Ready" for c in n.status.conditions) for n in nodes.items),
      [n.metadata.name for n in nodes.items])
print("python client: all steps passed", flush=True)

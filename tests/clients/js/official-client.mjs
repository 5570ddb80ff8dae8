// The official Kubernetes JavaScript client (@kubernetes/client-node, pinned in package.json) against an
// ActorCluster API, unmodified. Run by ActorCluster.Api.Tests (OtherClientsTests) with the cluster's kubeconfig
// and a name prefix. Each step checks what kube-apiserver would answer; the first difference ends the script with
// exit code 1 and says which step and what came back.
import * as k8s from '@kubernetes/client-node';

const [kubeconfig, prefix] = process.argv.slice(2);
const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const v1 = kc.makeApiClient(k8s.CoreV1Api);
const namespace = 'default';

function check(step, ok, got) {
  if (!ok) {
    console.log(`FAIL ${step}: ${JSON.stringify(got)}`);
    process.exit(1);
  }
  console.log(`ok   ${step}`);
}

const service = (name, nodePort) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, labels: { client: prefix } },
  spec: { type: nodePort ? 'NodePort' : 'ClusterIP', selector: { app: name }, ports: [{ port: 80, targetPort: 8080, nodePort }] },
});

async function refused(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return { code: e.code, body: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
  }
}

function within(ms, what, promise) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))]);
}

// An informer (list, then watch from the list's version, with bookmarks) sees objects created after it started.
const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/services`,
  () => v1.listNamespacedService({ namespace }), `client=${prefix}`);
const seen = new Set();
let sawB;
const informed = new Promise((resolve) => { sawB = resolve; });
informer.on('add', (svc) => {
  seen.add(svc.metadata.name);
  if (svc.metadata.name === `${prefix}-b`) sawB();
});
informer.on('error', (err) => console.log(`informer error: ${err}`));
await informer.start();

const a = await v1.createNamespacedService({ namespace, body: service(`${prefix}-a`) });
check('create returns a ClusterIP and a version', a.spec.clusterIP && a.metadata.resourceVersion, a.metadata);
const read = await v1.readNamespacedService({ name: `${prefix}-a`, namespace });
check('read returns the same object', read.metadata.uid === a.metadata.uid, read.metadata.uid);
await v1.createNamespacedService({ namespace, body: service(`${prefix}-b`) });
await within(20000, 'the informer', informed);
check('the informer saw both creates', seen.has(`${prefix}-a`) && seen.has(`${prefix}-b`), [...seen]);
const store = informer.list(namespace).map((s) => s.metadata.name).sort();
check("the informer's cache holds both", JSON.stringify(store) === JSON.stringify([`${prefix}-a`, `${prefix}-b`]), store);

// A raw watch with bookmarks from a list's version.
const list = await v1.listNamespacedService({ namespace, labelSelector: `client=${prefix}` });
check('list by label selector', list.items.length === 2, list.items.map((s) => s.metadata.name));
const events = [];
let watchDone;
const watched = new Promise((resolve) => { watchDone = resolve; });
const req = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${namespace}/services`,
  { allowWatchBookmarks: true, resourceVersion: list.metadata.resourceVersion },
  (type, obj) => {
    events.push([type, obj.metadata?.name]);
    if (type === 'DELETED' && obj.metadata.name === `${prefix}-b`) watchDone();
  },
  (err) => { if (err) console.log(`watch ended: ${err}`); });
await v1.deleteNamespacedService({ name: `${prefix}-b`, namespace });
await within(20000, 'the watch', watched);
req.abort();
check('the watch saw the delete', events.some(([t, n]) => t === 'DELETED' && n === `${prefix}-b`), events);

// Patch with a JSON merge patch (the client's default for a plain object is a JSON patch list; a merge patch is asked for explicitly).
const patched = await v1.patchNamespacedService({ name: `${prefix}-a`, namespace, body: { metadata: { labels: { patched: 'yes' } } } },
  k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
check('merge patch adds a label and keeps the others', patched.metadata.labels.patched === 'yes' && patched.metadata.labels.client === prefix, patched.metadata.labels);
const jsonPatched = await v1.patchNamespacedService({ name: `${prefix}-a`, namespace, body: [{ op: 'add', path: '/metadata/labels/json', value: 'patch' }] });
check('JSON patch adds a label', jsonPatched.metadata.labels.json === 'patch', jsonPatched.metadata.labels);

// Conflict, validation and not found, as Status bodies.
const stale = await refused(() => v1.replaceNamespacedService({ name: `${prefix}-a`, namespace, body: { ...a, metadata: { ...a.metadata, labels: { stale: 'yes' } } } }));
check('replace with a stale resourceVersion is 409 Conflict', stale?.code === 409 && stale.body.reason === 'Conflict', stale);
const invalid = await refused(() => v1.createNamespacedService({ namespace, body: service(`${prefix}-bad`, 20000) }));
check('a node port out of range is 422 with the apiserver\'s message', invalid?.code === 422
  && invalid.body.message.includes('spec.ports[0].nodePort: Invalid value: 20000: provided port is not in the valid range. The range of valid ports is 30000-32767'), invalid);
const missing = await refused(() => v1.readNamespacedService({ name: `${prefix}-missing`, namespace }));
check('a missing object is 404 NotFound', missing?.code === 404 && missing.body.reason === 'NotFound', missing);

// Dry run keeps, delete removes.
await v1.deleteNamespacedService({ name: `${prefix}-a`, namespace, dryRun: 'All' });
check('delete with dryRun=All keeps the object', (await v1.readNamespacedService({ name: `${prefix}-a`, namespace })).metadata.name === `${prefix}-a`);
await v1.deleteNamespacedService({ name: `${prefix}-a`, namespace });
const left = await v1.listNamespacedService({ namespace, labelSelector: `client=${prefix}` });
check('deleted objects are gone from the list', left.items.length === 0, left.items.map((s) => s.metadata.name));

// ConfigMaps and Secrets: stringData folded into data (base64), a bad key refused in the apiserver's words.
const secret = await v1.createNamespacedSecret({ namespace, body: { metadata: { name: `${prefix}-secret` }, stringData: { password: 's3cret' } } });
check('a Secret\'s stringData comes back as base64 data, type Opaque',
  secret.data?.password === Buffer.from('s3cret').toString('base64') && secret.type === 'Opaque' && secret.stringData === undefined, secret);
await v1.createNamespacedConfigMap({ namespace, body: { metadata: { name: `${prefix}-config`, labels: { client: prefix } }, data: { mode: 'fast' } } });
const configs = await v1.listNamespacedConfigMap({ namespace, labelSelector: `client=${prefix}` });
check('a ConfigMap lists by label', configs.items.length === 1 && configs.items[0].data.mode === 'fast', configs.items);
const badKey = await refused(() => v1.createNamespacedConfigMap({ namespace, body: { metadata: { name: `${prefix}-bad-config` }, data: { 'a b': '1' } } }));
check('a bad config key is 422 with the apiserver\'s message', badKey?.code === 422
  && badKey.body.message.includes('data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters'), badKey);
await v1.deleteNamespacedConfigMap({ name: `${prefix}-config`, namespace });
await v1.deleteNamespacedSecret({ name: `${prefix}-secret`, namespace });

const nodes = await v1.listNode();
check('nodes list with a Ready condition', nodes.items.length > 0 && nodes.items.every((n) => n.status.conditions.some((c) => c.type === 'Ready')), nodes.items.length);
await informer.stop();
console.log('js client: all steps passed');
process.exit(0);

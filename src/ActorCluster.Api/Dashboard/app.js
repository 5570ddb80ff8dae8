// The ActorCluster dashboard: the Kubernetes API's lists and watches (with the user's token) draw nodes, pods,
// Services and Events; /ui/api/traffic adds what each node's data plane did. Plain JS, no build step.
'use strict';

const TOKEN_KEY = 'actorcluster-token';
const state = {
  token: null,
  nodes: new Map(), pods: new Map(), services: new Map(), events: new Map(),
  traffic: null, previous: null, rates: new Map(), serviceRates: new Map(),
  selected: null,
  session: null, // an AbortController per login: logging out ends every watch and request of that login
};
const $ = id => document.getElementById(id);

// ------------------------------------------------------------------ token and requests

function takeToken() {
  // A link may carry the token in its fragment (never sent to a server, so never in a log); it is moved to this
  // tab's session storage and taken out of the address bar at once.
  const m = location.hash.match(/^#token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    signal: state.session && state.session.signal,
    ...options,
    headers: { Accept: 'application/json', ...(options.headers || {}), Authorization: 'Bearer ' + state.token },
  });
  if (response.status === 401) throw new Unauthorized('the token was refused (401 Unauthorized)');
  return response;
}

async function apiJson(path, options) {
  const response = await api(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const keyOf = o => (o.metadata.namespace ? o.metadata.namespace + '/' : '') + o.metadata.name;

// ------------------------------------------------------------------ list and watch

// Lists once, then follows the watch from that version; a watch that ends is resumed, one that says 410 Gone is
// listed again. Errors back off (1 s, doubling to 10 s); a refused token ends everything.
async function follow(path, map) {
  const session = state.session;
  let version = null;
  let backoff = 1000;
  while (!session.signal.aborted) {
    try {
      if (version === null) {
        const list = await apiJson(path);
        map.clear();
        for (const item of list.items) map.set(keyOf(item), item);
        version = list.metadata.resourceVersion;
        changed();
      }
      const response = await api(`${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(version)}`);
      if (!response.ok) throw new Error(`watch ${path}: ${response.status}`);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      backoff = 1000;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end).trim();
          buffer = buffer.slice(end + 1);
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.type === 'ERROR') {
            if (event.object && event.object.code === 410) version = null;
            throw new Error(event.object ? event.object.message : 'watch error');
          }
          version = event.object.metadata.resourceVersion;
          if (event.type === 'BOOKMARK') continue;
          if (event.type === 'DELETED') map.delete(keyOf(event.object));
          else map.set(keyOf(event.object), event.object);
          changed();
        }
      }
    } catch (e) {
      if (session.signal.aborted) return;
      if (e instanceof Unauthorized) return logout(e.message);
      setLive(`reconnecting (${e.message})`);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 10000);
    }
  }
}

// ------------------------------------------------------------------ traffic

async function pollTraffic() {
  const session = state.session;
  while (!session.signal.aborted) {
    if (!document.hidden) {
      try {
        const traffic = await apiJson('/ui/api/traffic');
        state.previous = state.traffic;
        state.traffic = traffic;
        computeRates();
        changed();
        setLive('live');
      } catch (e) {
        if (session.signal.aborted) return;
        if (e instanceof Unauthorized) return logout(e.message);
        setLive(`traffic unavailable (${e.message})`);
      }
    }
    await sleep(1000);
  }
}

function endpointTotals(traffic) {
  const totals = new Map();
  for (const node of (traffic && traffic.nodes) || []) {
    for (const e of node.endpoints || []) {
      const key = e.servicePort + '|' + e.endpoint;
      const t = totals.get(key) || { ...e, connections: 0, bytesIn: 0, bytesOut: 0 };
      t.connections += e.connections; t.bytesIn += e.bytesIn; t.bytesOut += e.bytesOut;
      totals.set(key, t);
    }
  }
  return totals;
}

function computeRates() {
  const now = endpointTotals(state.traffic);
  const before = endpointTotals(state.previous);
  const seconds = state.previous ? Math.max(0.2, (Date.parse(state.traffic.time) - Date.parse(state.previous.time)) / 1000) : 1;
  state.rates = new Map();
  state.serviceRates = new Map();
  for (const [key, t] of now) {
    const b = before.get(key) || { connections: 0, bytesIn: 0, bytesOut: 0 };
    const rate = {
      total: t.connections,
      perSecond: state.previous ? (t.connections - b.connections) / seconds : 0,
      bytesPerSecond: state.previous ? (t.bytesIn + t.bytesOut - b.bytesIn - b.bytesOut) / seconds : 0,
      pod: t.podNamespace + '/' + t.podName,
    };
    state.rates.set(key, rate);
    const service = t.servicePort.split(':')[0];
    const s = state.serviceRates.get(service) || { total: 0, perSecond: 0, bytesPerSecond: 0 };
    s.total += rate.total; s.perSecond += rate.perSecond; s.bytesPerSecond += rate.bytesPerSecond;
    state.serviceRates.set(service, s);
  }
}

// ------------------------------------------------------------------ rendering

let pending = false;
function changed() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function el(tag, attributes = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c.nodeType ? c : String(c));
  return e;
}

// Replaces a section's content only when it would look different, and keeps the keyboard focus on the same object
// (buttons carry data-key): the page redraws every second while traffic flows, and a focused button must survive it.
function update(container, children) {
  const fresh = document.createElement(container.tagName);
  fresh.append(...children);
  if (fresh.innerHTML === container.innerHTML) return;
  const active = document.activeElement;
  const key = active && container.contains(active) && active.dataset ? active.dataset.key : null;
  container.replaceChildren(...fresh.childNodes);
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

const badge = (text, kind = '') => el('span', { class: 'badge ' + kind }, text);
const condition = (o, type) => ((o.status && o.status.conditions) || []).find(c => c.type === type);
const nodeAddress = n => (((n.status && n.status.addresses) || []).find(a => a.type === 'InternalIP') || {}).address;
const byName = (a, b) => keyOf(a).localeCompare(keyOf(b));

function humanRate(bytes) {
  if (bytes < 1024) return `${bytes.toFixed(0)} B/s`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB/s`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB/s`;
}

function selects(service, pod) {
  const selector = service.spec && service.spec.selector;
  if (!selector || Object.keys(selector).length === 0) return false;
  if (pod.metadata.namespace !== service.metadata.namespace) return false;
  const labels = pod.metadata.labels || {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function pendingReason(service) {
  // The newest Warning about the Service says why it has no LoadBalancer IP (e.g. no pool configured).
  const warnings = [...state.events.values()]
    .filter(e => e.type === 'Warning' && e.involvedObject && e.involvedObject.kind === 'Service'
      && e.involvedObject.name === service.metadata.name && e.involvedObject.namespace === service.metadata.namespace)
    .sort((a, b) => eventTime(b).localeCompare(eventTime(a)));
  return warnings.length ? warnings[0].message : null;
}

function renderServices() {
  const list = [...state.services.values()].sort(byName);
  update($('services'), list.map(s => {
    const spec = s.spec || {};
    const ingress = ((s.status && s.status.loadBalancer && s.status.loadBalancer.ingress) || []).map(i => i.ip).filter(Boolean);
    const rate = state.serviceRates.get(keyOf(s));
    const ports = (spec.ports || []).map(p => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol || 'TCP'}`).join(', ');
    const external = spec.type === 'LoadBalancer'
      ? (ingress.length ? `LoadBalancer IP ${ingress.join(', ')}` : `<pending>${pendingReason(s) ? ': ' + pendingReason(s) : ''}`)
      : null;
    return el('div', { class: 'card svc', 'data-service': keyOf(s) },
      el('button', { type: 'button', class: 'obj', 'data-key': 'service:' + keyOf(s), onclick: () => openPanel('services', s), 'aria-label': `Service ${keyOf(s)}` },
        el('h3', {}, keyOf(s)),
        badge(spec.type || 'ClusterIP'),
        spec.externalTrafficPolicy ? badge('externalTrafficPolicy: ' + spec.externalTrafficPolicy, spec.externalTrafficPolicy === 'Local' ? 'warn' : '') : null,
        el('div', {}, `ClusterIP ${spec.clusterIP || '-'} · ${ports}`),
        external ? el('div', { class: ingress.length ? '' : 'pending' }, external) : null,
        el('div', { class: 'rate', 'data-rate': keyOf(s) },
          rate ? `${rate.perSecond.toFixed(1)} conn/s · ${humanRate(rate.bytesPerSecond)} · ${rate.total} total` : 'no connections yet')));
  }));
}

function renderNodes() {
  const host = state.traffic && state.traffic.apiServerHost;
  const nodes = [...state.nodes.values()].sort(byName);
  const pods = [...state.pods.values()].sort(byName);
  update($('nodes'), nodes.map(n => {
    const ready = condition(n, 'Ready');
    const isReady = ready && ready.status === 'True';
    const annotations = n.metadata.annotations || {};
    const onNode = pods.filter(p => p.spec && p.spec.nodeName === n.metadata.name);
    return el('section', { class: 'card node' + (isReady ? '' : ' notready'), 'data-node': n.metadata.name, 'aria-label': `Node ${n.metadata.name}` },
      el('button', { type: 'button', class: 'obj', 'data-key': 'node:' + n.metadata.name, onclick: () => openPanel('nodes', n) },
        el('h3', {}, n.metadata.name),
        badge(isReady ? 'Ready' : 'NotReady', isReady ? 'ok' : 'bad'),
        host && annotations['actorcluster.io/akka-address'] === host ? badge('ApiServer', 'warn') : null,
        el('span', { class: 'muted' }, nodeAddress(n) || '')),
      el('div', { class: 'pods' }, onNode.map(renderPod)));
  }));
}

function renderPod(p) {
  const ready = condition(p, 'Ready');
  const isReady = ready && ready.status === 'True';
  const labels = Object.entries(p.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
  const terminating = !!p.metadata.deletionTimestamp;
  return el('button', { type: 'button', class: 'obj pod', 'data-pod': keyOf(p), 'data-key': 'pod:' + keyOf(p), onclick: () => openPanel('pods', p), 'aria-label': `Pod ${keyOf(p)}` },
    el('strong', {}, p.metadata.name), ' ',
    badge(terminating ? 'Terminating' : (p.status && p.status.phase) || 'Pending', (p.status && p.status.phase) === 'Running' && !terminating ? 'ok' : 'warn'),
    badge(isReady ? 'ready' : 'not ready', isReady ? 'ok' : 'bad'),
    el('div', { class: 'muted' }, `${(p.status && p.status.podIP) || 'no IP yet'}${labels ? ' · ' + labels : ''}`));
}

function renderLines() {
  const svg = $('lines');
  const box = svg.getBoundingClientRect();
  const lines = [];
  for (const s of state.services.values()) {
    const from = document.querySelector(`.svc[data-service="${CSS.escape(keyOf(s))}"]`);
    if (!from) continue;
    const a = from.getBoundingClientRect();
    for (const p of state.pods.values()) {
      if (!selects(s, p)) continue;
      const to = document.querySelector(`.pod[data-pod="${CSS.escape(keyOf(p))}"]`);
      if (!to) continue;
      const b = to.getBoundingClientRect();
      const x1 = a.left + a.width / 2 - box.left, y1 = a.bottom - box.top;
      const x2 = b.left + b.width / 2 - box.left, y2 = b.top - box.top;
      let perSecond = 0, total = 0, bytes = 0;
      for (const [key, rate] of state.rates) {
        if (key.startsWith(keyOf(s) + ':') || key.startsWith(keyOf(s) + '|')) {
          if (rate.pod === keyOf(p)) { perSecond += rate.perSecond; total += rate.total; bytes += rate.bytesPerSecond; }
        }
      }
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'line');
      Object.entries({ x1, y1, x2, y2, 'stroke-width': Math.min(8, 1.5 + perSecond) }).forEach(([k, v]) => line.setAttribute(k, v));
      line.setAttribute('class', perSecond > 0 ? 'busy' : '');
      line.dataset.service = keyOf(s);
      line.dataset.pod = keyOf(p);
      line.dataset.connections = String(total);
      lines.push(line);
      if (total > 0) {
        const label = document.createElementNS('http://www.w3.org/2000/svg', 'text');
        // Near the Service end: the gap between the Services and the nodes, where no card hides it.
        label.setAttribute('x', x1 + (x2 - x1) * 0.25 + 4);
        label.setAttribute('y', y1 + (y2 - y1) * 0.25);
        label.textContent = `${perSecond.toFixed(1)} conn/s · ${humanRate(bytes)} · ${total} total`;
        lines.push(label);
      }
    }
  }
  svg.replaceChildren(...lines);
}

function renderDecisions() {
  const all = ((state.traffic && state.traffic.nodes) || []).flatMap(n => n.decisions || [])
    .sort((a, b) => b.time.localeCompare(a.time)).slice(0, 30);
  update($('decisions'), all.map(d => el('tr', { class: d.refusal ? 'refused' : '' },
    el('td', {}, d.time.slice(11, 19)),
    el('td', {}, d.client),
    el('td', {}, `${d.kind} ${d.address} on ${d.receivingNode}`),
    el('td', {}, d.servicePort),
    el('td', {}, d.refusal ? `refused: ${d.refusal}` : `${d.pod || d.endpoint} on ${d.podNode || '?'}`))));
}

const eventTime = e => e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp || '';

function renderEvents() {
  const events = [...state.events.values()].sort((a, b) => eventTime(b).localeCompare(eventTime(a))).slice(0, 50);
  update($('events'), events.map(e => el('tr', { class: e.type === 'Warning' ? 'warning' : '' },
    el('td', {}, eventTime(e).replace('T', ' ').replace('Z', '')),
    el('td', {}, e.type || ''),
    el('td', {}, e.reason || ''),
    el('td', {}, e.involvedObject ? `${e.involvedObject.kind}/${e.involvedObject.name}` : ''),
    el('td', {}, e.message || ''))));
}

function renderTryTargets() {
  const select = $('try-address');
  const current = select.value;
  const options = [];
  for (const s of [...state.services.values()].sort(byName)) {
    const spec = s.spec || {};
    for (const p of (spec.ports || []).filter(p => (p.protocol || 'TCP') === 'TCP')) {
      if (spec.clusterIP && spec.clusterIP !== 'None') options.push([`${spec.clusterIP}:${p.port}`, `${keyOf(s)} ClusterIP ${spec.clusterIP}:${p.port}`]);
      if (p.nodePort) {
        for (const n of [...state.nodes.values()].sort(byName)) {
          const address = nodeAddress(n);
          if (address) options.push([`${address}:${p.nodePort}`, `${keyOf(s)} NodePort ${address}:${p.nodePort} (${n.metadata.name})`]);
        }
      }
      for (const i of ((s.status && s.status.loadBalancer && s.status.loadBalancer.ingress) || [])) {
        if (i.ip) options.push([`${i.ip}:${p.port}`, `${keyOf(s)} LoadBalancer ${i.ip}:${p.port}`]);
      }
    }
  }
  if (options.map(o => o[0]).join() === [...select.options].map(o => o.value).join()) return;
  select.replaceChildren(...options.map(([value, text]) => el('option', { value }, text)));
  if (options.some(o => o[0] === current)) select.value = current;
}

function render() {
  renderServices();
  renderNodes();
  renderDecisions();
  renderEvents();
  renderTryTargets();
  renderLines();
}

function setLive(text) { $('live').textContent = text; }

// ------------------------------------------------------------------ details panel

function toYaml(value) { return emit(value, 0).replace(/^\n/, '') + '\n'; }

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  if (s === '' || /^[\s\-?:,[\]{}#&*!|>'"%@`]|\s$|: | #|\n/.test(s) || /^(true|false|null|yes|no|on|off|~|[-+]?[0-9][0-9._eE+-]*)$/i.test(s)) return JSON.stringify(s);
  return s;
}

function emit(v, depth) {
  const pad = '  '.repeat(depth);
  if (Array.isArray(v)) {
    if (v.length === 0) return ' []';
    return v.map(item => {
      if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length) {
        return '\n' + pad + '- ' + emit(item, depth + 1).replace(/^\n\s*/, '');
      }
      return '\n' + pad + '-' + emit(item, depth + 1);
    }).join('');
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0) return ' {}';
    // As kubectl prints: a list under a key starts at the key's own indentation.
    return keys.map(k => '\n' + pad + scalar(k) + ':' + emit(v[k], Array.isArray(v[k]) ? depth : depth + 1)).join('');
  }
  return ' ' + scalar(v);
}

const paths = {
  pods: o => `/api/v1/namespaces/${o.metadata.namespace}/pods/${o.metadata.name}`,
  services: o => `/api/v1/namespaces/${o.metadata.namespace}/services/${o.metadata.name}`,
  nodes: o => `/api/v1/nodes/${o.metadata.name}`,
};
const kinds = { pods: ['Pod', 'v1'], services: ['Service', 'v1'], nodes: ['Node', 'v1'] };

async function openPanel(resource, object) {
  state.selected = { resource, object };
  const panel = $('panel');
  $('panel-title').textContent = `${kinds[resource][0]} ${keyOf(object)}`;
  $('panel-yaml').textContent = 'loading...';
  $('panel-delete').hidden = true;
  panel.dataset.permissions = 'pending'; // 'known' once the Delete button shows what the user may do
  panel.hidden = false;
  $('panel-close').focus();
  try {
    const full = await apiJson(paths[resource](object));
    // As `kubectl get -o yaml` shows it: kind and apiVersion first, managedFields left out.
    const shown = { apiVersion: full.apiVersion || kinds[resource][1], kind: full.kind || kinds[resource][0], ...full };
    if (shown.metadata) { shown.metadata = { ...shown.metadata }; delete shown.metadata.managedFields; }
    $('panel-yaml').textContent = toYaml(shown);
    if (resource === 'pods') $('panel-delete').hidden = !(await allowed('delete', 'pods', object.metadata.namespace));
    panel.dataset.permissions = 'known';
  } catch (e) {
    if (e instanceof Unauthorized) return logout(e.message);
    $('panel-yaml').textContent = `Error: ${e.message}`;
  }
}

async function allowed(verb, resource, namespace) {
  const review = await apiJson('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb, resource, namespace } } }),
  });
  return !!(review.status && review.status.allowed);
}

function closePanel() {
  $('panel').hidden = true;
  state.selected = null;
}

async function deleteSelected() {
  const selected = state.selected;
  if (!selected || !confirm(`Delete ${kinds[selected.resource][0]} ${keyOf(selected.object)}?`)) return;
  const response = await api(paths[selected.resource](selected.object), { method: 'DELETE' });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    $('panel-yaml').textContent = `Error: ${body.message || response.statusText}`;
    return;
  }
  closePanel();
}

// ------------------------------------------------------------------ try it

async function tryIt(event) {
  event.preventDefault();
  const out = $('try-result');
  out.textContent = 'sending...';
  try {
    const result = await apiJson('/ui/api/try', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ address: $('try-address').value, path: $('try-path').value }),
    });
    const d = result.decision;
    const path = d ? (d.refusal ? `${d.kind} ${d.address} on ${d.receivingNode}: refused, ${d.refusal}`
      : `${d.kind} ${d.address} on ${d.receivingNode} -> ${d.pod || d.endpoint} on ${d.podNode}`) : 'no routing decision recorded';
    out.textContent = `GET http://${result.address}${result.path}${d ? ' from ' + d.client : ''}\npath: ${path}\n`
      + (result.error ? `error: ${result.error}` : `${result.status}\n${result.body}`);
  } catch (e) {
    if (e instanceof Unauthorized) return logout(e.message);
    out.textContent = `Error: ${e.message}`;
  }
}

// ------------------------------------------------------------------ start

function logout(reason) {
  if (state.session) state.session.abort();
  state.session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('panel').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = reason || '';
  $('token').value = ''; // the token does not stay on a page whose user logged out
  $('who').textContent = '';
  setLive('');
  $('token').focus();
}

async function start(token) {
  state.token = token;
  state.session = new AbortController();
  for (const map of [state.nodes, state.pods, state.services, state.events]) map.clear();
  state.traffic = state.previous = null;
  try {
    const review = await apiJson('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
    });
    $('who').textContent = `logged in as ${review.status.userInfo.username}`;
  } catch (e) {
    return logout(e instanceof Unauthorized ? 'That token was refused (401 Unauthorized).' : `Cannot reach the API: ${e.message}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  follow('/api/v1/nodes', state.nodes);
  follow('/api/v1/pods', state.pods);
  follow('/api/v1/services', state.services);
  follow('/api/v1/events', state.events);
  pollTraffic();
}

document.addEventListener('DOMContentLoaded', () => {
  $('login-form').addEventListener('submit', e => { e.preventDefault(); start($('token').value.trim()); });
  $('logout').addEventListener('click', () => logout('Logged out.'));
  $('panel-close').addEventListener('click', closePanel);
  $('panel-delete').addEventListener('click', deleteSelected);
  $('try-form').addEventListener('submit', tryIt);
  document.addEventListener('keydown', e => { if (e.key === 'Escape' && !$('panel').hidden) closePanel(); });
  window.addEventListener('resize', changed);
  const token = takeToken();
  if (token) start(token); else logout('');
});

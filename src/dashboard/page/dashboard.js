// The dashboard page: reads the feed (GET /dashboard/feed, Server-Sent Events, one JSON snapshot a
// second; docs/protocol.md "Dashboard feed"), draws it, and sends the operator controls
// (POST /dashboard/faults, POST and DELETE /dashboard/load). Plain DOM; charts by uPlot.
'use strict';

/** Chart points kept per deployment (the server sends up to 300 in the first message). */
const MAX_POINTS = 300;

/** @type {Map<string, {el: HTMLElement, latency: any, rates: any, series: number[][], instanceIds: string}>} */
const views = new Map();
/** The last snapshot drawn. */
let current = null;

const $ = (id) => document.getElementById(id);
const field = (root, name) => root.querySelector(`[data-field="${name}"]`);

function ms(v) {
  if (!(v > 0)) return '-';
  return v < 10 ? `${v.toFixed(2)} ms` : v < 100 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
}

function rate(v) {
  return v < 10 ? v.toFixed(1) : String(Math.round(v));
}

function showMessage(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.hidden = !text;
  m.classList.toggle('error', Boolean(isError));
}

// --- controls -----------------------------------------------------------------------------------

/** The bearer token for the controls, when the server asks for one (kept for this tab only). */
function authHeaders() {
  const token = sessionStorage.getItem('parm-token');
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Sends a control request; asks for a token once on 401; shows the server's error message. */
async function control(method, path, body, retried) {
  const res = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && !retried) {
    const token = prompt('This server needs its access token for the dashboard controls:');
    if (token) {
      sessionStorage.setItem('parm-token', token);
      return control(method, path, body, true);
    }
  }
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: shown as text below
  }
  if (!res.ok) throw new Error((json && json.error) || `${res.status} ${text}`);
  return json;
}

function faultFrom(form, instance) {
  const v = (name) => form.querySelector(`[data-input="${name}"]`).value;
  switch (v('kind')) {
    case 'delay':
      return { kind: 'delay', instance, ms: Number(v('ms')), probability: Number(v('probability')) };
    case 'crash':
      return { kind: 'crash', instance, afterQueries: Number(v('after')) };
    default:
      return { kind: 'hang', instance };
  }
}

/** Replaces the faults aimed exactly at `instance` (by its id or bare number) with `added`. */
async function setInstanceFaults(model, instance, added) {
  const d = current && current.deployments.find((x) => x.name === model);
  const n = instance.replace(/^deployed-/, '');
  const kept = (d ? d.faults : []).filter((f) => f.instance !== instance && !(instance.startsWith('deployed-') && f.instance === n));
  const out = await control('POST', '/dashboard/faults', { model, faults: [...kept, ...added] });
  showMessage(added.length ? `${added[0].kind} injected on ${model} ${instance}` : `faults cleared on ${model} ${instance}`);
  return out;
}

function wireFaultForm(view, model) {
  const form = view.el.querySelector('.fault-form');
  const kind = form.querySelector('[data-input="kind"]');
  const showFields = () => {
    for (const l of form.querySelectorAll('[data-when]')) l.hidden = l.dataset.when !== kind.value;
  };
  kind.addEventListener('change', showFields);
  showFields();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const instance = form.querySelector('[data-input="instance"]').value;
    setInstanceFaults(model, instance, [faultFrom(form, instance)]).catch((e) => showMessage(e.message, true));
  });
  form.querySelector('[data-action="clear-all"]').addEventListener('click', () => {
    control('POST', '/dashboard/faults', { model, faults: [] })
      .then(() => showMessage(`every fault cleared on ${model}`))
      .catch((e) => showMessage(e.message, true));
  });
}

function wireLoadForm() {
  $('load-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const body = { model: $('load-model').value, rate: Number($('load-rate').value), seconds: Number($('load-seconds').value) };
    control('POST', '/dashboard/load', body)
      .then((s) => showMessage(`load started: ${s.rate} queries/s for ${s.seconds} s on ${s.model} (${s.source})`))
      .catch((e) => showMessage(e.message, true));
  });
  $('load-stop').addEventListener('click', () => {
    control('DELETE', '/dashboard/load')
      .then(() => showMessage('load stopped'))
      .catch((e) => showMessage(e.message, true));
  });
}

// --- charts -------------------------------------------------------------------------------------

function chartWidth(el) {
  return Math.max(280, el.clientWidth || 480);
}

function makeCharts(view) {
  const latencyEl = view.el.querySelector('[data-chart="latency"]');
  const ratesEl = view.el.querySelector('[data-chart="rates"]');
  const common = { height: 220, legend: { live: false }, cursor: { drag: { x: false, y: false } } };
  view.latency = new uPlot(
    {
      ...common,
      width: chartWidth(latencyEl),
      scales: { y: { distr: 3 } },
      // Label the powers of ten only: a log axis has a tick at every 1..9 of each decade.
      axes: [{}, { size: 60, values: (u, vals) => vals.map((v) => (v != null && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9 ? String(v) : '')) }],
      series: [{}, { label: 'p50', stroke: '#2b7bb9', width: 2 }, { label: 'p99', stroke: '#e0902b', width: 2 }, { label: 'p99.9', stroke: '#c0392b', width: 2 }],
    },
    [[], [], [], []],
    latencyEl,
  );
  view.rates = new uPlot(
    {
      ...common,
      width: chartWidth(ratesEl),
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      series: [{}, { label: 'answered', stroke: '#2b7bb9', width: 2 }, { label: 'reconstructed', stroke: '#8e44ad', width: 2, fill: 'rgba(142,68,173,0.15)' }],
    },
    [[], [], []],
    ratesEl,
  );
}

/** Appends one point (a history point or a snapshot's values) to a view's series. */
function pushPoint(view, p) {
  const s = view.series;
  // uPlot's time axis is in seconds; a log scale has no 0, so an empty window is a gap.
  const pos = (v) => (v > 0 ? v : null);
  s[0].push(p.time / 1000);
  s[1].push(pos(p.p50));
  s[2].push(pos(p.p99));
  s[3].push(pos(p.p999));
  s[4].push(p.answered);
  s[5].push(p.reconstructions);
  if (s[0].length > MAX_POINTS) for (const a of s) a.splice(0, a.length - MAX_POINTS);
}

function drawCharts(view) {
  const s = view.series;
  view.latency.setData([s[0], s[1], s[2], s[3]]);
  view.rates.setData([s[0], s[4], s[5]]);
}

// --- drawing ------------------------------------------------------------------------------------

function viewFor(d) {
  let view = views.get(d.name);
  if (view) return view;
  const el = $('deployment-template').content.firstElementChild.cloneNode(true);
  el.dataset.deployment = d.name;
  $('deployments').append(el);
  view = { el, latency: null, rates: null, series: [[], [], [], [], [], []], instanceIds: '' };
  views.set(d.name, view);
  makeCharts(view);
  wireFaultForm(view, d.name);
  const option = document.createElement('option');
  option.value = option.textContent = d.name;
  $('load-model').append(option);
  return view;
}

function faultText(f, id) {
  const via = f.instance === id || f.instance === id.replace(/^deployed-/, '') ? '' : ` (via ${f.instance})`;
  switch (f.kind) {
    case 'delay':
      return `delay ${f.ms} ms${f.probability !== undefined && f.probability < 1 ? ` p=${f.probability}` : ''}${via}`;
    case 'crash':
      return `crash after ${f.afterQueries}${via}`;
    case 'contention':
      return `contention ${f.busyMs}/${f.periodMs} ms${via}`;
    default:
      return `${f.kind}${via}`;
  }
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function drawInstances(view, d, controls) {
  const tbody = view.el.querySelector('table.instances tbody');
  const rows = [];
  for (const i of d.instances) {
    const tr = document.createElement('tr');
    tr.dataset.instance = i.id;
    cell(tr, i.id);
    cell(tr, i.role);
    const state = i.suspectedHung ? `${i.state} (suspected hung)` : i.state;
    const st = cell(tr, '');
    const badge = document.createElement('span');
    badge.className = `badge ${i.suspectedHung ? 'down' : i.state}`;
    badge.dataset.field = 'state';
    badge.textContent = state === 'starting' ? 'loading' : state;
    st.append(badge);
    cell(tr, String(i.inFlight));
    cell(tr, ms(i.recentRunMs));
    cell(tr, String(i.restarts));
    cell(tr, i.backend || 'local');
    const faults = cell(tr, i.faults.map((f) => faultText(f, i.id)).join(', ') || '-', i.faults.length ? 'fault' : 'muted');
    faults.dataset.field = 'faults';
    const actions = cell(tr, '');
    if (controls && i.faults.some((f) => f.instance === i.id || f.instance === i.id.replace(/^deployed-/, ''))) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Clear';
      b.addEventListener('click', () => setInstanceFaults(d.name, i.id, []).catch((e) => showMessage(e.message, true)));
      actions.append(b);
    }
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  const ids = d.instances.map((i) => i.id).join(',');
  if (ids !== view.instanceIds) {
    view.instanceIds = ids;
    const select = view.el.querySelector('[data-input="instance"]');
    const keep = select.value;
    select.replaceChildren(
      ...d.instances.map((i) => {
        const o = document.createElement('option');
        o.value = o.textContent = i.id;
        return o;
      }),
    );
    if (keep && ids.split(',').includes(keep)) select.value = keep;
  }
}

function drawDeployment(d, snap) {
  const view = viewFor(d);
  const el = view.el;
  field(el, 'name').textContent = d.name;
  field(el, 'mode').textContent = `mode ${d.mode}, k = ${d.k}`;
  const ready = field(el, 'ready');
  ready.textContent = d.ready ? 'ready' : 'not ready';
  ready.className = `badge ${d.ready ? 'ready' : 'down'}`;
  field(el, 'p50').textContent = ms(d.latencyMs.p50);
  field(el, 'p99').textContent = ms(d.latencyMs.p99);
  field(el, 'p999').textContent = ms(d.latencyMs.p999);
  field(el, 'answered-rate').textContent = rate(d.rates.answered);
  field(el, 'reconstructions-rate').textContent = rate(d.rates.reconstructions);
  field(el, 'reconstructions-total').textContent = String(d.totals.reconstructions);
  field(el, 'late-total').textContent = `${d.totals.lateOriginalsDiscarded} (${rate(d.rates.lateOriginalsDiscarded)}/s)`;
  field(el, 'queues').textContent = `${d.queueDepth.deployed} / ${d.queueDepth.parity}`;
  field(el, 'answered-total').textContent = String(d.totals.answered);
  field(el, 'errors').textContent = `${d.totals.errors} / ${d.totals.restarts}`;
  drawInstances(view, d, snap.controls);
  if (snap.history && snap.history[d.name]) {
    view.series = [[], [], [], [], [], []];
    for (const p of snap.history[d.name]) pushPoint(view, p);
  } else {
    pushPoint(view, { time: snap.time, p50: d.latencyMs.p50, p99: d.latencyMs.p99, p999: d.latencyMs.p999, answered: d.rates.answered, reconstructions: d.rates.reconstructions });
  }
  drawCharts(view);
}

function drawLoad(load) {
  const el = $('load-status');
  if (!load) {
    el.textContent = 'no load running';
    return;
  }
  const what = `${load.rate} queries/s on ${load.model} from the ${load.source}`;
  const counts = `${load.sent} sent, ${load.answered} answered (${load.reconstructed} reconstructed), ${load.errors} errors`;
  el.textContent = load.running
    ? `running: ${what}, ${Math.round(load.elapsedSec)} of ${load.seconds} s; ${counts}`
    : `finished: ${what}, ${Math.round(load.elapsedSec)} s; ${counts}${load.lastError ? `; last error: ${load.lastError}` : ''}`;
}

function draw(snap) {
  current = snap;
  $('seq').textContent = String(snap.seq);
  $('updated').textContent = new Date(snap.time).toLocaleTimeString();
  $('window').textContent = String(snap.windowSec);
  $('controls-off').hidden = snap.controls;
  for (const f of document.querySelectorAll('[data-control]')) f.hidden = !snap.controls;
  for (const d of snap.deployments) drawDeployment(d, snap);
  drawLoad(snap.load);
}

// --- the feed -----------------------------------------------------------------------------------

function connect() {
  const status = $('connection');
  const source = new EventSource('/dashboard/feed');
  source.onopen = () => {
    status.textContent = 'live';
    status.className = 'badge ready';
  };
  source.onmessage = (ev) => {
    try {
      draw(JSON.parse(ev.data));
    } catch (e) {
      showMessage(`could not draw a snapshot: ${e.message}`, true);
    }
  };
  // EventSource reconnects by itself (the server asks for 2 s); the first message after that carries the history again.
  source.onerror = () => {
    status.textContent = 'reconnecting';
    status.className = 'badge down';
  };
}

window.addEventListener('resize', () => {
  for (const v of views.values()) {
    for (const [chart, sel] of [[v.latency, 'latency'], [v.rates, 'rates']]) {
      chart.setSize({ width: chartWidth(v.el.querySelector(`[data-chart="${sel}"]`)), height: 220 });
    }
  }
});

wireLoadForm();
connect();

// A real server on port 0 over the fake engine: routes, status codes, WebSocket framing, limits,
// backpressure and shutdown through real sockets, with answers the fake engine makes predictable.
import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { ParmClient, ParmRequestError, inferHttp } from '../../src/client/index.js';
import { encodeFrame, readMessage } from '../../src/wire/index.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';

function image(seed: number, n = 1): Float32Array {
  const a = new Float32Array(784 * n);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 31 + seed * 977) % 255) / 255;
  return a;
}

function frame(header: unknown, tail: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.from(encodeFrame(JSON.stringify(header), [tail]));
}

function unframe(b: Buffer): { header: Record<string, any>; tail: Buffer } {
  const m = readMessage(b, true);
  return { header: m.header as Record<string, any>, tail: Buffer.from(m.tensors) };
}

function binReq(id: unknown, img: Float32Array, extra: Record<string, unknown> = {}) {
  return frame(
    { id, inputs: [{ name: 'input', shape: [img.length / 784, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: img.byteLength } }], ...extra },
    new Uint8Array(img.buffer),
  );
}

async function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  });
  return ws;
}

/** Collects messages; next() resolves with the next one. */
function inbox(ws: WebSocket) {
  type Msg = { data: Buffer; binary: boolean };
  const queue: Msg[] = [];
  const waiters: Array<[(m: Msg) => void, (e: Error) => void]> = [];
  let closedWith: Error | undefined;
  ws.on('message', (data, binary) => {
    const m = { data: data as Buffer, binary };
    const w = waiters.shift();
    if (w) w[0](m);
    else queue.push(m);
  });
  ws.on('close', (code, reason) => {
    closedWith = new Error(`closed ${code} ${reason.toString()}`);
    for (const [, rej] of waiters.splice(0)) rej(closedWith);
  });
  return {
    next: () =>
      new Promise<Msg>((res, rej) => {
        if (queue.length) res(queue.shift()!);
        else if (closedWith) rej(closedWith);
        else waiters.push([res, rej]);
      }),
  };
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
}

const engine = new FakeEngine({ delayMs: 2 });
const other = new FakeEngine({ name: 'other', reconstructed: true });
let server: ParmServer;
let wsBase: string;

t.before(async () => {
  server = await startServer({
    engines: [engine, other],
    port: 0,
    limits: { maxBodyBytes: 64 * 1024, maxMessageBytes: 64 * 1024, maxInFlightPerConnection: 8, maxBatch: 16 },
  });
  wsBase = server.url.replace('http', 'ws');
});
t.teardown(() => server.close());

t.test('health, server and model metadata, repository index', async (t) => {
  t.equal((await fetch(`${server.url}/v2/health/live`)).status, 200);
  t.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
  t.same(await (await fetch(`${server.url}/v2`)).json(), {
    name: 'parm',
    version: '0.1.0',
    extensions: ['binary_tensor_data', 'model_repository', 'parm_reconstruction', 'parm_stream', 'statistics'],
  });
  const meta = (await (await fetch(`${server.url}/v2/models/fake`)).json()) as any;
  t.same(meta, {
    name: 'fake',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
  });
  t.equal((await fetch(`${server.url}/v2/models/fake/versions/1`)).status, 200);
  t.equal((await fetch(`${server.url}/v2/models/fake/ready`)).status, 200);
  const nf = await fetch(`${server.url}/v2/models/nope`);
  t.equal(nf.status, 404);
  t.same(await nf.json(), { error: "unknown model 'nope'" });
  const nv = await fetch(`${server.url}/v2/models/fake/versions/7/ready`);
  t.equal(nv.status, 404);
  t.match(((await nv.json()) as any).error, /unknown version '7' of model 'fake'/);
  const idx = (await (await fetch(`${server.url}/v2/repository/index`, { method: 'POST' })).json()) as any;
  t.same(idx.map((m: { name: string; state: string }) => [m.name, m.state]), [['fake', 'READY'], ['other', 'READY']]);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  for (const re of [
    /parm_engine_queue_depth\{model="fake",role="deployed"\} \d+/,
    /parm_instance_state\{model="fake",instance="deployed-0",role="deployed",state="ready"\} 1/,
    /parm_instance_state\{model="fake",instance="deployed-0",role="deployed",state="down"\} 0/,
    /parm_engine_latency_ms\{model="fake",kind="all",quantile="0.99"\} 1/,
    /# TYPE parm_request_duration_seconds histogram/,
    /parm_engine_run_time_by_idle_ms\{model="fake",role="deployed",idle_below_ms="\+Inf",quantile="0.5"\} 1/,
    /parm_engine_runs_by_idle\{model="fake",role="deployed",idle_below_ms="\+Inf"\} 3/,
    /# TYPE parm_engine_run_ms histogram/,
    // Three runs of 1 ms: none at or under the bound below (0.917 ms), all three at 1 ms.
    /parm_engine_run_ms_bucket\{le="0.917",model="fake",role="deployed",idle_below_ms="\+Inf"\} 0\n/,
    /parm_engine_run_ms_bucket\{le="1",model="fake",role="deployed",idle_below_ms="\+Inf"\} 3\n/,
    /parm_engine_run_ms_bucket\{le="\+Inf",model="fake",role="deployed",idle_below_ms="\+Inf"\} 3\n/,
    /parm_engine_run_ms_sum\{model="fake",role="deployed",idle_below_ms="\+Inf"\} 3\n/,
    /parm_engine_run_ms_count\{model="fake",role="deployed",idle_below_ms="\+Inf"\} 3\n/,
  ]) {
    t.match(metrics, re, `metrics: ${re.source}`);
  }
  t.notMatch(metrics, /idle_below_ms="0.2"/, 'an idle class with no runs is left out');
  const r405 = await fetch(`${server.url}/v2/models/fake/infer`);
  t.equal(r405.status, 405);
  t.equal((await fetch(`${server.url}/nothing`)).status, 404);
});

t.test('HTTP JSON and binary inference', async (t) => {
  const img = image(1);
  const want = Array.from(fakeLogits(img));
  const r = await fetch(`${server.url}/v2/models/fake/infer`, {
    method: 'POST',
    body: JSON.stringify({ id: 'a', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }),
  });
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/json');
  const body = (await r.json()) as any;
  t.equal(body.id, 'a');
  t.same(body.outputs[0].shape, [1, 10]);
  t.same(body.outputs[0].data, want);
  t.equal(body.parameters.parm_reconstructed, false);

  // JSON input, one output asked as binary (Triton style): binary response with the header length.
  const mixed = await fetch(`${server.url}/v2/models/fake/infer`, {
    method: 'POST',
    body: JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }],
      outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    }),
  });
  t.equal(mixed.headers.get('content-type'), 'application/octet-stream');
  const hl = Number(mixed.headers.get('inference-header-content-length'));
  const raw = Buffer.from(await mixed.arrayBuffer());
  t.equal(raw.length, hl + 40);
  const mh = JSON.parse(raw.subarray(0, hl).toString());
  t.same(mh.outputs[0].parameters, { binary_data_size: 40, parm_reconstructed: false });
  t.same(Array.from(new Float32Array(Uint8Array.from(raw.subarray(hl)).buffer)), want);

  const ans = await inferHttp(server.url, 'fake', img, { binary: true, id: 'b' });
  t.same(Array.from(ans.output), want);
  t.same(ans.shape, [1, 10]);
  t.equal(ans.id, 'b');

  const two = image(2, 3);
  const batch = await inferHttp(server.url, 'fake', two, { binary: false });
  t.same(batch.shape, [3, 10]);
  t.same(Array.from(batch.output.subarray(20)), Array.from(fakeLogits(two.subarray(2 * 784))));

  // After these answers, the one instance's run counter is exported with the engine's count.
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  t.match(metrics, /# TYPE parm_instance_runs_total counter/);
  const runs = Number(/parm_instance_runs_total\{model="fake",instance="deployed-0",role="deployed"\} (\d+)/.exec(metrics)?.[1]);
  const answered = Number(/parm_engine_answered_total\{model="fake"\} (\d+)/.exec(metrics)?.[1]);
  t.ok(runs >= 4, `parm_instance_runs_total counts the answers so far (${runs})`);
  t.equal(runs, answered, "the one instance's runs are the engine's answers");

  const rec = await inferHttp(server.url, 'other', img, { decode: { kind: 'deadline', waitMs: 5 } });
  t.equal(rec.reconstructed, true, 'parm_reconstructed reported');
  t.same(other.lastOptions?.decode, { kind: 'deadline', waitMs: 5 }, 'decode policy reaches the engine');
});

t.test('HTTP errors have OIP bodies and the right status', async (t) => {
  const post = (path: string, body: Uint8Array | string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', body, headers });
  let r = await post('/v2/models/fake/infer', '{"inputs": [');
  t.equal(r.status, 400);
  t.match(((await r.json()) as any).error, /^malformed JSON in request body/);
  r = await post('/v2/models/fake/infer', '{"inputs":[]}', { 'Inference-Header-Content-Length': '500' });
  t.equal(r.status, 400);
  t.match(((await r.json()) as any).error, /Inference-Header-Content-Length 500 exceeds the body length 13/);
  r = await post('/v2/models/missing/infer', '{}');
  t.equal(r.status, 404);
  r = await post('/v2/models/fake/versions/2/infer', '{}');
  t.equal(r.status, 404);
  r = await post('/v2/models/fake/infer', Buffer.alloc(100 * 1024, 32));
  t.equal(r.status, 413);
  t.match(((await r.json()) as any).error, /exceeds the limit of 65536 bytes/);
  const img = image(3);
  const h = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] }));
  r = await post('/v2/models/fake/infer', Buffer.concat([h, Buffer.from(img.buffer).subarray(0, 3000)]), { 'Inference-Header-Content-Length': String(h.length) });
  t.equal(r.status, 400);
  t.match(((await r.json()) as any).error, /binary_data_size 3136 but 3000 bytes/);
  r = await post('/v2/models/fake/infer', Buffer.from([0x1f, 0x8b, 8, 0]), { 'Content-Encoding': 'gzip' });
  t.equal(r.status, 400);
  t.match(((await r.json()) as any).error, /Content-Encoding 'gzip' is not supported/);
  r = await post('/v2/models/fake/infer', JSON.stringify({ id: '', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
  t.equal(r.status, 200, 'an empty id is fine over HTTP');
  t.equal(((await r.json()) as any).id, '');
  const m = await (await fetch(`${server.url}/metrics`)).text();
  t.match(m, /parm_requests_total\{model="",transport="http",outcome="failure",status="404"\} 2/, 'unknown model or version counted under model=""');
  t.match(m, /parm_requests_total\{model="fake",transport="http",outcome="failure",status="413"\} 1/);
  // Still serving after all that.
  const ok = await inferHttp(server.url, 'fake', img);
  t.same(Array.from(ok.output), Array.from(fakeLogits(img)));
});

t.test('WebSocket: pipelined binary and text requests, answered in the same framing', async (t) => {
  const ws = await open(`${wsBase}/v2/models/fake/infer/stream`);
  const box = inbox(ws);
  const imgs = [image(10), image(11), image(12)];
  ws.send(binReq('b0', imgs[0]!));
  ws.send(JSON.stringify({ id: 5, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(imgs[1]!) }] }));
  ws.send(binReq('b2', imgs[2]!, { outputs: [{ name: 'logits', parameters: { binary_data: false } }] }));
  const got = new Map<unknown, { binary: boolean; header: Record<string, any>; tail: Buffer }>();
  for (let i = 0; i < 3; i++) {
    const m = await box.next();
    if (m.binary) {
      const u = unframe(m.data);
      got.set(u.header.id, { binary: true, ...u });
    } else {
      const h = JSON.parse(m.data.toString());
      got.set(h.id, { binary: false, header: h, tail: Buffer.alloc(0) });
    }
  }
  const b0 = got.get('b0')!;
  t.equal(b0.binary, true);
  t.equal(b0.header.outputs[0].parameters.binary_data_size, 40);
  t.same(Array.from(new Float32Array(Uint8Array.from(b0.tail).buffer)), Array.from(fakeLogits(imgs[0]!)));
  const t5 = got.get(5)!;
  t.equal(t5.binary, false, 'text in, text out; numeric id echoed as a number');
  t.same(t5.header.outputs[0].data, Array.from(fakeLogits(imgs[1]!)));
  const b2 = got.get('b2')!;
  t.equal(b2.binary, true);
  t.same(b2.header.outputs[0].data, Array.from(fakeLogits(imgs[2]!)), 'binary_data false gives JSON data inside a binary frame');
  ws.close();
});

t.test('WebSocket: bad input gets an error answer and the connection stays open', async (t) => {
  const ws = await open(`${wsBase}/v2/models/fake/infer/stream`);
  const box = inbox(ws);
  const img = image(20);
  const errOf = async () => {
    const m = await box.next();
    return m.binary ? unframe(m.data).header : JSON.parse(m.data.toString());
  };
  ws.send('{"id": "x", "inputs": [');
  t.match(await errOf(), { id: null, error: /^malformed JSON in text frame/ });
  ws.send(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
  t.match(await errOf(), { id: null, error: /missing 'id'/ });
  ws.send(JSON.stringify({ id: '', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
  t.match(await errOf(), { id: '', error: /missing 'id'/ });
  ws.send(JSON.stringify({ id: 'dt', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP64', data: Array.from(img) }] }));
  t.match(await errOf(), { id: 'dt', error: /datatype "FP64"; the model expects FP32/ });
  ws.send(JSON.stringify({ id: 'sh', inputs: [{ name: 'input', shape: [1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
  t.match(await errOf(), { id: 'sh', error: /shape \[1, 28, 28\]; the model expects \[-1, 1, 28, 28\]/ });
  ws.send(binReq('sz', img).subarray(0, -4));
  t.match(await errOf(), { id: 'sz', error: /binary_data_size 3136 but 3132 bytes/ });
  ws.send(frame({ id: 'big', inputs: [{ name: 'input', shape: [17, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 17 * 3136 } }] }, new Uint8Array(17 * 3136)).subarray(0, 60_000));
  t.match(await errOf(), { id: 'big', error: /binary_data_size|batch size 17/ });
  ws.send(JSON.stringify({ id: 'bo', parameters: { binary_data_output: true }, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
  t.match(await errOf(), { id: 'bo', error: /binary outputs need a binary frame/ });
  ws.send(encodeFrame('{"id": "q", "inp'));
  const m = await box.next();
  t.equal(m.binary, true, 'an error to a binary request comes in a binary frame');
  t.match(unframe(m.data).header, { id: null, error: /malformed JSON in frame header/ });
  // Still works.
  ws.send(binReq('ok', img));
  const ok = unframe((await box.next()).data);
  t.equal(ok.header.id, 'ok');
  t.same(Array.from(new Float32Array(Uint8Array.from(ok.tail).buffer)), Array.from(fakeLogits(img)));
  ws.close();
});

t.test('WebSocket: unknown model is refused at upgrade', async (t) => {
  const ws = new WebSocket(`${wsBase}/v2/models/nope/infer/stream`);
  ws.on('error', () => {});
  const status = await new Promise<number>((r) => ws.once('unexpected-response', (_req, res) => r(res.statusCode ?? 0)));
  t.equal(status, 404);
  ws.terminate();
});

t.test('WebSocket: framing violations close with a reason', async (t) => {
  const cases: Array<[string, Buffer, number, RegExp]> = [
    ['header length beyond message', Buffer.concat([encodeFrame('x'.repeat(1_000_000)).subarray(0, 4), Buffer.alloc(60)]), 1002, /header length 1000000 exceeds the frame \(60 bytes/],
    ['short binary frame', Buffer.from([1, 2]), 1002, /binary frame of 2 bytes/],
    ['oversized message', Buffer.alloc(100 * 1024), 1009, /message of 102400 bytes exceeds the limit of 65536 bytes/],
  ];
  for (const [name, payload, code, re] of cases) {
    const ws = await open(`${wsBase}/v2/models/fake/infer/stream`);
    const done = closed(ws);
    ws.send(payload);
    const c = await done;
    t.equal(c.code, code, name);
    t.match(c.reason, re, name);
  }
  // Garbage bytes: random data as a binary frame.
  const ws = await open(`${wsBase}/v2/models/fake/infer/stream`);
  const done = closed(ws);
  const junk = Buffer.alloc(5000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 2654435761) >>> 24;
  junk.set([0xef, 0xbe, 0xad, 0xde], 0); // header length 0xdeadbeef, little-endian
  ws.send(junk);
  t.equal((await done).code, 1002, 'garbage closes with protocol error');
});

t.test('WebSocket: a flood from one client waits in its FIFO behind the in-flight limit, others are unaffected', async (t) => {
  const flood = await open(`${wsBase}/v2/models/fake/infer/stream`);
  const box = inbox(flood);
  const img = image(30);
  const n = 40;
  for (let i = 0; i < n; i++) flood.send(binReq(i, img));
  const client = await ParmClient.connect({ url: server.url, model: 'fake' });
  const mine = await client.infer(image(31));
  t.same(Array.from(mine.output), Array.from(fakeLogits(image(31))));
  const ids = new Set<unknown>();
  for (let i = 0; i < n; i++) {
    const h = unframe((await box.next()).data).header;
    t.notOk(h.error, `request ${h.id} answered (in-flight limit 8: the rest waited)`);
    ids.add(h.id);
  }
  t.equal(ids.size, n, 'every request answered once');
  await client.close();
  flood.close();
});

t.test('WebSocket: ping/pong', async (t) => {
  const ws = await open(`${wsBase}/v2/models/fake/infer/stream`);
  const pong = new Promise<string>((r) => ws.once('pong', (d) => r(d.toString())));
  ws.ping('hello');
  t.equal(await pong, 'hello');
  ws.close();
});

t.test('typed client: promise per request, JSON framing, errors, reconnect', async (t) => {
  const c = await ParmClient.connect({ url: server.url, model: 'fake', binary: false, reconnectMinDelayMs: 20 });
  const imgs = [image(40), image(41), image(42), image(43)];
  const answers = await Promise.all(imgs.map((i) => c.infer(i)));
  answers.forEach((a, k) => t.same(Array.from(a.output), Array.from(fakeLogits(imgs[k]!))));
  await t.rejects(c.infer(image(1), { shape: [1, 784] }), ParmRequestError);
  await t.rejects(c.infer(new Float32Array(5)), RangeError);
  await c.close();
  // maxInFlight matching the server's limit (8 here): 40 calls at once all succeed, queued in the client.
  const counted = new FakeEngine({ name: 'counted', delayMs: 3 });
  const s2 = await startServer({ engines: [counted], port: 0, limits: { maxInFlightPerConnection: 8 } });
  const q = await ParmClient.connect({ url: s2.url, model: 'counted', maxInFlight: 8 });
  const many = Array.from({ length: 40 }, (_, i) => image(100 + i));
  const got = await Promise.all(many.map((x) => q.infer(x)));
  got.forEach((a, i) => t.same(Array.from(a.output), Array.from(fakeLogits(many[i]!))));
  t.equal(counted.maxSeenPending, 8, 'exactly 8 in flight at the most');
  await q.close();
  await s2.close();
});

t.test('backpressure: a client that does not read stops getting work started, then is closed past the hard limit', async (t) => {
  const big = new FakeEngine({ name: 'big', outputFloats: 64 * 1024 });
  const s = await startServer({
    engines: [big],
    port: 0,
    // Hard limit above soft + in-flight x answer size, so a merely slow reader is never closed.
    limits: { maxInFlightPerConnection: 4, wsBackpressureBytes: 64 * 1024, wsMaxBackpressureBytes: 2 * 1024 * 1024 },
  });
  t.teardown(() => s.close());
  const url = `${s.url.replace('http', 'ws')}/v2/models/big/infer/stream`;

  // 1. Slow reader: stops reading, keeps sending; the server parks its requests instead of running them.
  const slow = await open(url);
  const box = inbox(slow);
  (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const n = 400;
  const img = image(50);
  // Spread over time, so the in-flight limit alone would let every request run.
  for (let i = 0; i < n; i++) {
    slow.send(binReq(i, img));
    if (i % 4 === 3) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200));
  const started = big.calls;
  t.ok(started < n / 2, `server started only ${started} of ${n} requests while the client was not reading`);
  // Another client is served meanwhile.
  const other = await open(url);
  const obox = inbox(other);
  other.send(binReq('o', image(51)));
  const o = unframe((await obox.next()).data);
  t.equal(o.header.id, 'o');
  t.equal(o.header.outputs[0].parameters.binary_data_size, 64 * 1024 * 4);
  other.close();
  // Resume: every request gets exactly one answer (a result or an in-flight-limit error).
  (slow as unknown as { _socket: { resume(): void } })._socket.resume();
  let results = 0;
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const h = unframe((await box.next()).data).header;
    if (h.error) refused++;
    else results++;
  }
  t.equal(results + refused, n);
  t.ok(results > started, `parked requests ran after the client drained (${results} results)`);
  slow.close();

  // 2. A client that floods error answers (32 KiB ids echoed back) and never reads is closed (1008).
  const flood = await open(url);
  const fclosed = closed(flood);
  (flood as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  const longId = 'x'.repeat(32 * 1024);
  const badReq = JSON.stringify({ id: longId, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'INT8', data: [] }] });
  for (let i = 0; i < 800; i++) flood.send(badReq);
  while (flood.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  (flood as unknown as { _socket: { resume(): void } })._socket.resume();
  const c = await Promise.race([
    fclosed,
    new Promise<{ code: number; reason: string }>((r) => setTimeout(() => r({ code: 0, reason: 'not closed within 20 s' }), 20_000)),
  ]);
  t.equal(c.code, 1008);
  t.match(c.reason, /backpressure limit exceeded/);
});

t.test('readiness: not ready until the engine is, and infer answers 503 meanwhile', async (t) => {
  const slow = new FakeEngine({ name: 'late', startNotReady: true });
  const s = await startServer({ engines: [slow], port: 0 });
  t.teardown(() => s.close());
  t.equal((await fetch(`${s.url}/v2/health/live`)).status, 200);
  t.equal((await fetch(`${s.url}/v2/health/ready`)).status, 400);
  t.equal((await fetch(`${s.url}/v2/models/late/ready`)).status, 400);
  const r = await fetch(`${s.url}/v2/models/late/infer`, {
    method: 'POST',
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(image(1)) }] }),
  });
  t.equal(r.status, 503);
  t.same(await r.json(), { error: "model 'late' is not ready: loading" });
  slow.markReady();
  t.equal((await fetch(`${s.url}/v2/health/ready`)).status, 200);
});

t.test('graceful close: answers what is in flight, then closes sockets and engines', async (t) => {
  const e = new FakeEngine({ name: 'slow', delayMs: 1000 });
  const s = await startServer({ engines: [e], port: 0 });
  const ws = await open(`${s.url.replace('http', 'ws')}/v2/models/slow/infer/stream`);
  const box = inbox(ws);
  const wsClosed = closed(ws);
  ws.send(binReq('w', image(60)));
  const http = inferHttp(s.url, 'slow', image(61));
  for (let i = 0; i < 100 && e.pending < 2; i++) await new Promise((r) => setTimeout(r, 5));
  t.equal(e.pending, 2, 'both requests are in the engine');
  const closing = s.close();
  const a = await http;
  t.same(Array.from(a.output), Array.from(fakeLogits(image(61))), 'HTTP request in flight answered');
  const w = unframe((await box.next()).data);
  t.equal(w.header.id, 'w', 'stream request in flight answered');
  t.same((await wsClosed).code, 1001);
  await closing;
  t.equal(e.closed, true);
  await t.rejects(fetch(`${s.url}/v2/health/live`), 'no longer listening');
});

t.test('client reconnects after the connection drops', async (t) => {
  // A TCP proxy in front of the server lets the test cut the connection like a network failure.
  const conns = new Set<net.Socket>();
  const proxy = net.createServer((down) => {
    const up = net.connect(server.port, '127.0.0.1');
    conns.add(down).add(up);
    down.pipe(up).pipe(down);
    const kill = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', kill).on('close', kill);
    up.on('error', kill).on('close', kill);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.teardown(() => proxy.close());
  const port = (proxy.address() as net.AddressInfo).port;
  const c = await ParmClient.connect({ url: `http://127.0.0.1:${port}`, model: 'fake', reconnectMinDelayMs: 20, reconnectMaxDelayMs: 100 });
  t.same(Array.from((await c.infer(image(70))).output), Array.from(fakeLogits(image(70))));
  const slowOne = c.infer(image(72));
  for (const s of conns) s.destroy();
  await t.rejects(slowOne, { name: 'ParmConnectionError' }, 'a request in flight when the connection drops rejects');
  let answer;
  for (let i = 0; i < 50 && !answer; i++) {
    try {
      answer = await c.infer(image(71));
    } catch {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  t.same(Array.from(answer!.output), Array.from(fakeLogits(image(71))), 'answered after reconnect');
  t.equal(c.reconnects, 1);
  await c.close();
});

t.test('an answer that arrives after its client left is dropped, and the server carries on', async (t) => {
  const e = new FakeEngine({ name: 'gone', delayMs: 200 });
  const s = await startServer({ engines: [e], port: 0 });
  t.teardown(() => s.close());
  const ws = await open(`${s.url.replace('http', 'ws')}/v2/models/gone/infer/stream`);
  for (let i = 0; i < 5; i++) ws.send(binReq(i, image(80)));
  for (let i = 0; i < 100 && e.pending < 5; i++) await new Promise((r) => setTimeout(r, 5));
  ws.terminate();
  await new Promise((r) => setTimeout(r, 400));
  t.equal(e.pending, 0, 'the engine answered');
  const a = await inferHttp(s.url, 'gone', image(81));
  t.same(Array.from(a.output), Array.from(fakeLogits(image(81))));
  const m = await (await fetch(`${s.url}/metrics`)).text();
  t.match(m, /parm_requests_in_flight\{transport="ws"\} 0/);
  t.match(m, /parm_ws_connections 0/);
});

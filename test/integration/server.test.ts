// The network front on the real engine and models (bundled, or fixtures until they land): answers
// equal a direct onnxruntime-node run, the reconstructed flag under a delay fault, 100 connections,
// a client that does not read, and every bad input while another client keeps getting right answers.
import t from 'tap';
import WebSocket from 'ws';
import { createEngine } from '../../src/engine/engine.js';
import type { Engine } from '../../src/engine/types.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { ParmClient, inferHttp } from '../../src/client/index.js';
import { encodeFrame, readMessage } from '../../src/wire/index.js';
import { direct, images, servedDeployment } from './server-helpers.js';

const deployment = servedDeployment();
const MODEL = deployment.name;
// Wait for the original up to 10 s: answers are then originals, comparable bit for bit.
const ORIGINAL = { decode: { kind: 'deadline' as const, waitMs: 10_000 } };

let engine: Engine;
let server: ParmServer;
let wsUrl: string;

t.before(async () => {
  engine = await createEngine({ ...deployment, instances: 2, isolation: 'thread', threadsPerSession: 1 });
  server = await startServer({
    engines: [engine],
    port: 0,
    limits: { maxBodyBytes: 1 << 20, maxMessageBytes: 1 << 20, maxInFlightPerConnection: 32, wsMaxQueuedBytes: 64 * 1024, wsMaxBackpressureBytes: 1 << 20 },
  });
  wsUrl = `${server.url.replace('http', 'ws')}/v2/models/${MODEL}/infer/stream`;
});
t.teardown(async () => {
  await server?.close();
});

function frame(header: unknown, tail: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.from(encodeFrame(JSON.stringify(header), [tail]));
}

function reply(data: Buffer, binary: boolean): Record<string, any> {
  return readMessage(data, binary).header as Record<string, any>;
}

async function open(url = wsUrl): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  return ws;
}

function nextMessage(ws: WebSocket): Promise<Record<string, any>> {
  return new Promise((res, rej) => {
    ws.once('message', (d, binary) => res(reply(d as Buffer, binary)));
    ws.once('close', (code, reason) => rej(new Error(`closed ${code} ${reason}`)));
  });
}

t.test('HTTP JSON, HTTP binary and WebSocket answers equal a direct onnxruntime run', async (t) => {
  const x = images(6, 11);
  const want = await direct(deployment.deployedModel!, x);
  const one = (i: number) => x.subarray(i * 784, (i + 1) * 784);
  const row = (i: number) => Array.from(want.subarray(i * 10, (i + 1) * 10));

  const j = await inferHttp(server.url, MODEL, one(0), { ...ORIGINAL, binary: false });
  t.equal(j.reconstructed, false);
  t.same(Array.from(j.output), row(0), 'HTTP JSON');
  const b = await inferHttp(server.url, MODEL, one(1), { ...ORIGINAL, binary: true });
  t.same(Array.from(b.output), row(1), 'HTTP binary');
  const batch = await inferHttp(server.url, MODEL, x.subarray(0, 4 * 784), { ...ORIGINAL, binary: true });
  t.same(batch.shape, [4, 10], 'batched request');
  t.same(Array.from(batch.output), Array.from(want.subarray(0, 40)));

  for (const binary of [true, false]) {
    const c = await ParmClient.connect({ url: server.url, model: MODEL, binary });
    // Pipelined: all six in flight at once on one connection.
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => c.infer(one(i), ORIGINAL)));
    answers.forEach((a, i) => {
      t.equal(a.reconstructed, false);
      t.same(Array.from(a.output), row(i), `WebSocket ${binary ? 'binary' : 'JSON'} #${i}`);
    });
    const wsBatch = await c.infer(x.subarray(2 * 784, 5 * 784), ORIGINAL);
    t.same(wsBatch.shape, [3, 10], 'batched request on the stream');
    t.same(Array.from(wsBatch.output), Array.from(want.subarray(20, 50)));
    await c.close();
  }
});

t.test('under a delay fault, answers come back reconstructed and say so', async (t) => {
  engine.setFaults([{ kind: 'delay', instance: 'deployed-0', ms: 400 }]);
  t.teardown(() => engine.setFaults([]));
  const c = await ParmClient.connect({ url: server.url, model: MODEL });
  const x = images(16, 12);
  const answers = await Promise.all(
    Array.from({ length: 16 }, (_, i) => c.infer(x.subarray(i * 784, (i + 1) * 784), { decode: { kind: 'first' } })),
  );
  const rec = answers.filter((a) => a.reconstructed);
  t.ok(rec.length > 0, `${rec.length} of 16 reconstructed`);
  for (const a of rec) {
    t.match(a.instance, /^parity-/);
    t.equal(a.output.length, 10);
  }
  // deployed-0 may still be busy with a delayed task from above (the other instance then takes
  // every request): each round first lets its delayed run end, a few rounds.
  let httpReconstructed = 0;
  for (let round = 0; round < 5 && httpReconstructed === 0; round++) {
    await new Promise((r) => setTimeout(r, 450));
    const http = await Promise.all(
      Array.from({ length: 8 }, (_, i) => inferHttp(server.url, MODEL, x.subarray(i * 784, (i + 1) * 784), { binary: false, decode: { kind: 'first' } })),
    );
    httpReconstructed = http.filter((a) => a.reconstructed).length;
  }
  t.ok(httpReconstructed > 0, 'HTTP answers carry parm_reconstructed too');
  await c.close();
  const m = await (await fetch(`${server.url}/metrics`)).text();
  t.match(m, new RegExp(`parm_engine_reconstructions_total\\{model="${MODEL}"\\} [1-9]`));
  t.match(m, /parm_request_duration_seconds_bucket\{[^}]*reconstructed="true"/);
});

t.test('100 concurrent connections all get correct answers', async (t) => {
  const x = images(100, 13);
  const want = await direct(deployment.deployedModel!, x);
  const clients = await Promise.all(Array.from({ length: 100 }, () => ParmClient.connect({ url: server.url, model: MODEL })));
  const answers = await Promise.all(clients.map((c, i) => c.infer(x.subarray(i * 784, (i + 1) * 784), ORIGINAL)));
  let wrong = 0;
  answers.forEach((a, i) => {
    if (Array.from(a.output).some((v, k) => v !== want[i * 10 + k])) wrong++;
  });
  t.equal(wrong, 0, 'every connection got its own answer');
  await Promise.all(clients.map((c) => c.close()));
});

t.test('bad input, floods and a client that does not read harm no one else', async (t) => {
  const good = await ParmClient.connect({ url: server.url, model: MODEL });
  const x = images(1, 14);
  const want = Array.from(await direct(deployment.deployedModel!, x));
  let checks = 0;
  let goodRunning = true;
  // A well-behaved client asks continuously while the abuse goes on.
  const goodLoop = (async () => {
    while (goodRunning) {
      const a = await good.infer(x, ORIGINAL);
      if (Array.from(a.output).some((v, i) => v !== want[i])) throw new Error('wrong answer for the good client');
      checks++;
    }
  })();

  const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', body, headers });
  const ok = { name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32' };
  const httpCases: Array<[string, Promise<Response>, number, RegExp]> = [
    ['malformed JSON', post(`/v2/models/${MODEL}/infer`, '{"inputs": [{"name"'), 400, /malformed JSON/],
    ['header length beyond message', post(`/v2/models/${MODEL}/infer`, '{}', { 'Inference-Header-Content-Length': '99' }), 400, /exceeds the body length/],
    ['wrong datatype', post(`/v2/models/${MODEL}/infer`, JSON.stringify({ inputs: [{ ...ok, datatype: 'UINT8', data: new Array(784).fill(1) }] })), 400, /datatype "UINT8"/],
    ['wrong shape', post(`/v2/models/${MODEL}/infer`, JSON.stringify({ inputs: [{ ...ok, shape: [1, 784], data: new Array(784).fill(1) }] })), 400, /the model expects \[-1, 1, 28, 28\]/],
    [
      'binary size mismatch',
      (() => {
        const h = Buffer.from(JSON.stringify({ inputs: [{ ...ok, parameters: { binary_data_size: 3136 } }] }));
        return post(`/v2/models/${MODEL}/infer`, Buffer.concat([h, Buffer.alloc(1000)]), { 'Inference-Header-Content-Length': String(h.length) });
      })(),
      400,
      /binary_data_size 3136 but 1000 bytes/,
    ],
    ['unknown model', post('/v2/models/no-such-model/infer', '{}'), 404, /unknown model 'no-such-model'/],
    ['unknown version', post(`/v2/models/${MODEL}/versions/99/infer`, '{}'), 404, /unknown version '99'/],
    ['oversized body', post(`/v2/models/${MODEL}/infer`, Buffer.alloc(2 << 20, 0x20)), 413, /exceeds the limit/],
    ['garbage bytes', post(`/v2/models/${MODEL}/infer`, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff])), 400, /not valid UTF-8|malformed JSON/],
    ['NaN in binary data', (() => {
      const h = Buffer.from(JSON.stringify({ inputs: [{ ...ok, parameters: { binary_data_size: 3136 } }] }));
      const d = new Float32Array(784).fill(0.5);
      d[3] = NaN;
      return post(`/v2/models/${MODEL}/infer`, Buffer.concat([h, new Uint8Array(d.buffer)]), { 'Inference-Header-Content-Length': String(h.length) });
    })(), 400, /non-finite/],
  ];
  for (const [name, p, status, re] of httpCases) {
    const r = await p;
    t.equal(r.status, status, `HTTP ${name}: status`);
    t.match(((await r.json()) as { error: string }).error, re, `HTTP ${name}: message`);
  }

  // WebSocket: errors answer with the id and keep the connection open ...
  const ws = await open();
  const wsCases: Array<[string, string | Buffer, unknown, RegExp]> = [
    ['malformed JSON', '{"id": "m", ', null, /malformed JSON/],
    ['missing id', JSON.stringify({ inputs: [{ ...ok, data: new Array(784).fill(0.1) }] }), null, /missing 'id'/],
    ['wrong datatype', JSON.stringify({ id: 'd', inputs: [{ ...ok, datatype: 'BYTES', data: [] }] }), 'd', /datatype "BYTES"/],
    ['wrong shape', JSON.stringify({ id: 's', inputs: [{ ...ok, shape: [2, 1, 28, 28], data: new Array(784).fill(0.1) }] }), 's', /needs 1568/],
    ['binary size mismatch', frame({ id: 'b', inputs: [{ ...ok, parameters: { binary_data_size: 3136 } }] }, new Uint8Array(3100)), 'b', /binary_data_size 3136 but 3100/],
  ];
  for (const [name, msg, id, re] of wsCases) {
    const next = nextMessage(ws);
    ws.send(msg);
    const r = await next;
    t.equal(r.id, id, `WS ${name}: id`);
    t.match(r.error, re, `WS ${name}: message`);
  }
  t.equal(ws.readyState, WebSocket.OPEN, 'the connection stayed open');
  ws.close();
  // ... an unknown model or version is refused at the upgrade ...
  for (const path of ['/v2/models/no-such-model/infer/stream', `/v2/models/${MODEL}/versions/99/infer/stream`]) {
    const bad = new WebSocket(`${server.url.replace('http', 'ws')}${path}`);
    bad.on('error', () => {});
    t.equal(await new Promise<number>((r) => bad.once('unexpected-response', (_q, res) => r(res.statusCode ?? 0))), 404, `upgrade ${path}`);
    bad.terminate();
  }
  // ... and framing violations close with a reason.
  const closes: Array<[string, Buffer, number, RegExp]> = [
    ['header length beyond message', Buffer.concat([encodeFrame('x'.repeat(5000)).subarray(0, 4), Buffer.alloc(36)]), 1002, /header length 5000 exceeds the frame/],
    ['garbage bytes', Buffer.from('\x7f\xff\xff\xff garbage garbage', 'latin1'), 1002, /exceeds the frame/],
    ['oversized message', Buffer.alloc((1 << 20) + 100), 1009, /exceeds the limit of 1048576 bytes/],
  ];
  for (const [name, payload, code, re] of closes) {
    const w = await open();
    const closed = new Promise<[number, string]>((r) => w.once('close', (c, reason) => r([c, reason.toString()])));
    w.send(payload);
    const [c, reason] = await closed;
    t.equal(c, code, `WS ${name}: close code`);
    t.match(reason, re, `WS ${name}: close reason`);
  }

  // A flood from one client: past the in-flight limit requests wait in the connection's FIFO, and
  // past its 64 KiB bound (about 20 of these requests) the excess is answered with errors.
  const flood = await open();
  const n = 200;
  let answered = 0;
  let refused = 0;
  const done = new Promise<void>((resolve) =>
    flood.on('message', (d, binary) => {
      const r = reply(d as Buffer, binary);
      if (r.error) refused++;
      else answered++;
      if (answered + refused === n) resolve();
    }),
  );
  const img = x.slice();
  for (let i = 0; i < n; i++) {
    flood.send(frame({ id: i, inputs: [{ ...ok, parameters: { binary_data_size: 3136 } }] }, new Uint8Array(img.buffer)));
  }
  await done;
  t.ok(refused > 0 && answered >= 32, `flood: ${answered} answered, ${refused} refused past the in-flight limit and the queue's bound`);
  flood.close();

  // A client that stops reading while it keeps sending is closed once its backlog passes the limit.
  const deaf = await open();
  const deafClosed = new Promise<[number, string]>((r) => deaf.once('close', (c, reason) => r([c, reason.toString()])));
  const sock = (deaf as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  sock.pause();
  const longId = 'y'.repeat(16 * 1024);
  const badReq = JSON.stringify({ id: longId, inputs: [{ ...ok, datatype: 'INT8', data: [] }] });
  for (let i = 0; i < 1500; i++) deaf.send(badReq);
  // Everything handed to the kernel, then a moment for the server to read and answer it all.
  while (deaf.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  sock.resume();
  const [dc, dr] = await Promise.race([
    deafClosed,
    new Promise<[number, string]>((r) => setTimeout(() => r([0, 'not closed within 20 s']), 20_000)),
  ]);
  t.equal(dc, 1008, 'non-reading client closed with 1008');
  t.match(dr, /backpressure limit exceeded/);

  goodRunning = false;
  await goodLoop;
  t.ok(checks > 5, `the good client got ${checks} correct answers during all of this`);
  await good.close();
  const live = await fetch(`${server.url}/v2/health/ready`);
  t.equal(live.status, 200, 'still ready');
});

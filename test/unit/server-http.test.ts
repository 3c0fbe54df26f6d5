// The HTTP front's logic (src/server/http-infer.ts, http-body.ts, http-routes.ts) without a socket:
// the route handlers driven with fake uWS requests and responses over the fake engine. Body
// reading and its limits, JSON and binary answers, errors and when they close the connection,
// admission, an aborted request, and the state routes.
import { pino } from 'pino';
import t from 'tap';
import { ServerContext } from '../../src/server/context.js';
import { httpInfer } from '../../src/server/http-infer.js';
import { registerFallback, registerHttpRoutes } from '../../src/server/http-routes.js';
import { resolveLimits, type ServerLimits } from '../../src/server/limits.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../../src/server/uws.js';
import { encodeHttpBody, fp32Bytes, readHttpBody, readOutputTensor, type InferResponse } from '../../src/wire/index.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';
import { FakeResponse, fakeRequest } from '../helpers/fake-uws.js';

const silent = pino({ level: 'silent' });
const encoder = new TextEncoder();

function context(engines = [new FakeEngine()], limits: Partial<ServerLimits> = {}) {
  return new ServerContext(engines, resolveLimits({ maxBodyBytes: 64 * 1024, ...limits }), silent);
}

function image(seed: number): Float32Array {
  const a = new Float32Array(784);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 17 + seed * 389) % 255) / 255;
  return a;
}

function jsonBody(id: string, img: Float32Array): Uint8Array {
  return encoder.encode(JSON.stringify({ id, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] }));
}

const settle = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** Calls the infer handler for `model` and feeds `body` (unless the handler answered first). */
async function infer(ctx: ServerContext, body: Uint8Array, headers: Record<string, string> = {}, opts: { model?: string; chunk?: number; lengthHeader?: boolean } = {}) {
  const res = new FakeResponse();
  const h = { ...(opts.lengthHeader === false ? {} : { 'content-length': String(body.length) }), ...headers };
  httpInfer(ctx, false)(res.res, fakeRequest([opts.model ?? 'fake'], h));
  if (res.ends === 0) res.feed(body, opts.chunk);
  await settle();
  return res;
}

t.test('JSON inference: the body read in chunks, a JSON answer', async (t) => {
  const ctx = context();
  const img = image(1);
  const res = await infer(ctx, jsonBody('a', img), {}, { chunk: 333 });
  t.equal(res.status, '200 OK');
  t.equal(res.headers['Content-Type'], 'application/json');
  const body = res.json as InferResponse;
  t.equal(body.id, 'a');
  t.same(body.outputs[0]!.data, Array.from(fakeLogits(img)));
  t.equal(res.closedConnection, false, 'keep-alive');
  t.equal(ctx.requestsInFlight, 0);
});

t.test('binary extension: header length in, binary answer with its header length out', async (t) => {
  const ctx = context();
  const img = image(2);
  const header = JSON.stringify({
    parameters: { binary_data_output: true },
    inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 3136 } }],
  });
  const { body, headerLength } = encodeHttpBody(header, [fp32Bytes(img)]);
  // No Content-Length: the chunked path, where each chunk is copied before uWS reuses it.
  const res = await infer(ctx, body, { 'inference-header-content-length': String(headerLength) }, { chunk: 1000, lengthHeader: false });
  t.equal(res.status, '200 OK');
  t.equal(res.headers['Content-Type'], 'application/octet-stream');
  const answer = readHttpBody(res.body!, res.headers['Inference-Header-Content-Length'], 'response body');
  const out = readOutputTensor(answer.header as InferResponse, answer.tensors)!;
  t.same(Array.from(out.data), Array.from(fakeLogits(img)));
});

t.test('body limits: refused before reading, or while reading, and the connection closes', async (t) => {
  const ctx = context();
  const tooBig = new FakeResponse();
  httpInfer(ctx, false)(tooBig.res, fakeRequest(['fake'], { 'content-length': String(100 * 1024) }));
  t.equal(tooBig.status, '413 Payload Too Large', 'from Content-Length, before any byte');
  t.match((tooBig.json as { error: string }).error, /request body of 102400 bytes exceeds the limit of 65536 bytes/);
  t.equal(tooBig.closedConnection, true);
  t.throws(() => tooBig.feed(new Uint8Array(10)), /did not ask for the body/, 'the body is never read');

  const chunked = await infer(ctx, new Uint8Array(70 * 1024).fill(32), {}, { chunk: 16 * 1024, lengthHeader: false });
  t.equal(chunked.status, '413 Payload Too Large', 'without Content-Length: counted while reading');
  t.equal(chunked.ends, 1, 'answered once');

  const longer = new FakeResponse();
  httpInfer(ctx, false)(longer.res, fakeRequest(['fake'], { 'content-length': '10' }));
  longer.feed(new Uint8Array(20).fill(32), 15);
  t.equal(longer.status, '400 Bad Request');
  t.match((longer.json as { error: string }).error, /body longer than Content-Length/);
  t.equal(longer.closedConnection, true);

  const bad = new FakeResponse();
  httpInfer(ctx, false)(bad.res, fakeRequest(['fake'], { 'content-length': 'abc' }));
  t.match((bad.json as { error: string }).error, /invalid Content-Length 'abc'/);
  t.match(await ctx.metrics.text(), /parm_requests_total\{model="fake",transport="http",outcome="failure",status="413"\} 2/);
});

t.test('errors before the body answer at once and close; errors after it keep the connection', async (t) => {
  const ctx = context();
  const unknown = await infer(ctx, encoder.encode('{}'), {}, { model: 'nope' });
  t.equal(unknown.status, '404 Not Found');
  t.same(unknown.json, { error: "unknown model 'nope'" });
  t.equal(unknown.closedConnection, true);
  const gzip = await infer(ctx, new Uint8Array([0x1f, 0x8b]), { 'content-encoding': 'gzip' });
  t.equal(gzip.status, '400 Bad Request');
  t.match((gzip.json as { error: string }).error, /Content-Encoding 'gzip' is not supported/);
  t.equal(gzip.closedConnection, true);
  const malformed = await infer(ctx, encoder.encode('{"inputs": ['));
  t.equal(malformed.status, '400 Bad Request');
  t.match((malformed.json as { error: string }).error, /^malformed JSON in request body/);
  t.equal(malformed.closedConnection, false, 'the body was read: the connection is reusable');
  const beyond = await infer(ctx, encoder.encode('{"inputs":[]}'), { 'inference-header-content-length': '500' });
  t.match((beyond.json as { error: string }).error, /Inference-Header-Content-Length 500 exceeds the body length 13/);
  t.match(await ctx.metrics.text(), /parm_requests_total\{model="",transport="http",outcome="failure",status="404"\} 1/, 'unknown models count under model=""');
});

t.test('admission: not ready (503), draining (503 and close), an engine error mapped to its status', async (t) => {
  const late = new FakeEngine({ name: 'late', startNotReady: true });
  const busy = new FakeEngine({ name: 'busy', maxPending: 0 });
  const ctx = context([late, busy]);
  const r = await infer(ctx, jsonBody('x', image(3)), {}, { model: 'late' });
  t.equal(r.status, '503 Service Unavailable');
  t.same(r.json, { error: "model 'late' is not ready: loading" });
  t.equal(late.calls, 0);
  const o = await infer(ctx, jsonBody('y', image(3)), {}, { model: 'busy' });
  t.equal(o.status, '503 Service Unavailable');
  t.same(o.json, { error: 'too many pending queries' });
  ctx.startDraining();
  late.markReady();
  const d = await infer(ctx, jsonBody('z', image(3)), {}, { model: 'late' });
  t.same(d.json, { error: 'server is shutting down' });
  t.equal(d.closedConnection, true, 'while draining every reply closes its connection');
});

t.test('a client that goes away gets no reply written; the request still completes', async (t) => {
  const engine = new FakeEngine({ delayMs: 10 });
  const ctx = context([engine]);
  const res = new FakeResponse();
  const body = jsonBody('gone', image(4));
  httpInfer(ctx, false)(res.res, fakeRequest(['fake'], { 'content-length': String(body.length) }));
  res.feed(body);
  t.equal(ctx.requestsInFlight, 1);
  res.abort();
  await settle(30);
  t.equal(res.ends, 0, 'nothing written to an aborted response');
  t.equal(ctx.requestsInFlight, 0);
  t.equal(engine.calls, 1);
});

/** A fake app that records route handlers by method and pattern. */
function routes(ctx: ServerContext) {
  const table = new Map<string, (res: HttpResponse, req: HttpRequest) => void>();
  const add = (method: string) => (pattern: string, h: (res: HttpResponse, req: HttpRequest) => void) => table.set(`${method} ${pattern}`, h);
  const app = { get: add('get'), post: add('post'), any: add('any') } as unknown as TemplatedApp;
  registerHttpRoutes(app, ctx);
  registerFallback(app, ctx);
  return async (key: string, params: string[] = [], body?: Uint8Array, url = '/', method = 'get') => {
    const res = new FakeResponse();
    const h = table.get(key);
    if (!h) throw new Error(`no route ${key}`);
    h(res.res, fakeRequest(params, body ? { 'content-length': String(body.length) } : {}, method, url));
    if (body && res.ends === 0) res.feed(body);
    await settle();
    return res;
  };
}

t.test('state routes: metadata, health, readiness, repository index, fallback', async (t) => {
  const late = new FakeEngine({ name: 'late', startNotReady: true });
  const call = routes(context([new FakeEngine(), late]));
  t.same((await call('get /v2')).json, { name: 'parm', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository', 'parm_reconstruction', 'parm_stream', 'statistics'] });
  t.equal((await call('get /v2/health/live')).status, '200 OK');
  t.equal((await call('get /v2/health/ready')).status, '400 Bad Request', 'not ready while a deployment loads');
  t.equal((await call('get /v2/models/:model/ready', ['fake'])).status, '200 OK');
  t.equal((await call('get /v2/models/:model/ready', ['late'])).status, '400 Bad Request');
  const meta = await call('get /v2/models/:model/versions/:version', ['fake', '1']);
  t.match(meta.json, { name: 'fake', versions: ['1'], inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }] });
  const nv = await call('get /v2/models/:model/versions/:version', ['fake', '9']);
  t.equal(nv.status, '404 Not Found');
  t.match((nv.json as { error: string }).error, /unknown version '9' of model 'fake' \(serving version '1'\)/);
  const all = (await call('post /v2/repository/index', [], new Uint8Array(0))).json as Array<{ name: string; state: string }>;
  t.same(all.map((m) => [m.name, m.state]), [['fake', 'READY'], ['late', 'UNAVAILABLE']]);
  const ready = (await call('post /v2/repository/index', [], encoder.encode('{"ready": true}'))).json as Array<{ name: string }>;
  t.same(ready.map((m) => m.name), ['fake']);
  t.match(((await call('post /v2/repository/index', [], encoder.encode('{"ready": 1}'))).json as { error: string }).error, /'ready' must be a boolean/);
  const m405 = await call('any /*', [], undefined, '/v2/models/fake/infer', 'get');
  t.equal(m405.status, '405 Method Not Allowed');
  t.equal(m405.closedConnection, false, 'a GET has no body to skip');
  const m404 = await call('any /*', [], undefined, '/nothing', 'post');
  t.equal(m404.status, '404 Not Found');
  t.equal(m404.closedConnection, true, 'an unread body must not become the next request');
  const metrics = await call('get /metrics');
  t.match(new TextDecoder().decode(metrics.body), /parm_instance_state\{model="fake",instance="deployed-0",role="deployed",state="ready"\} 1/);
});

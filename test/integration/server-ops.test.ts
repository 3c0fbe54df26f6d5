// What an operator relies on (issue 13): a port that is taken is an error at once, not a second
// listener sharing it; access control by a bearer token (HTTP, the stream upgrade, gRPC); CORS for
// browser pages; an access log.
// Real servers on port 0 over the fake engine.
import net from 'node:net';
import { pino } from 'pino';
import t from 'tap';
import { ParmClient, inferHttp } from '../../src/client/index.js';
import { GRPC_STATUS, ParmError } from '../../src/errors.js';
import { startServer } from '../../src/server/app.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';
import { rawHttp, statusCodes } from '../helpers/raw-http.js';
import { KServeClient, TritonClient, collect, floats, grpc, inferRequest } from './grpc-helpers.js';

/** A port free a moment ago (the kernel's pick for port 0). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('a port that is taken is refused at once, naming it', async (t) => {
  // A fixed port, as `parm serve --port N` uses (uWS binds those with SO_REUSEPORT).
  const first = await startServer({ engines: [new FakeEngine()], port: await freePort() });
  t.teardown(() => first.close());
  const second = await startServer({ engines: [new FakeEngine()], port: first.port }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  t.ok(second instanceof ParmError, 'a second server on the same port does not start');
  t.match(second, { code: 'PARM_ERR_SERVER_CONFIG', message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: the port is in use`) });
  t.equal((await fetch(`${first.url}/v2/health/live`)).status, 200, 'the first keeps serving');

  // Taken by another program (a plain Node listener): the same.
  const other = net.createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => other.close(() => r())));
  const port = (other.address() as net.AddressInfo).port;
  await t.rejects(startServer({ engines: [new FakeEngine()], port }), { code: 'PARM_ERR_SERVER_CONFIG', message: new RegExp(`:${port}: the port is in use`) });

  // Port 0 still picks a free port each time.
  const a = await startServer({ engines: [new FakeEngine()], port: 0 });
  const b = await startServer({ engines: [new FakeEngine()], port: 0 });
  t.not(a.port, b.port);
  await Promise.all([a.close(), b.close()]);
});

/** A pino logger writing JSON lines into `lines`. */
function capture(lines: string[]) {
  return pino({ level: 'debug' }, { write: (s: string) => lines.push(s) });
}

t.test('--auth-token: HTTP, the WebSocket upgrade and every route but health need the bearer token; it is never logged', async (t) => {
  const token = 'tok-3f9a.b~C+d/e=';
  const lines: string[] = [];
  const s = await startServer({ engines: [new FakeEngine()], port: 0, authToken: token, logger: capture(lines) });
  t.teardown(() => s.close());
  const auth = { Authorization: `Bearer ${token}` };
  for (const path of ['/v2/health/live', '/v2/health/ready']) t.equal((await fetch(`${s.url}${path}`)).status, 200, `${path} without a token`);
  for (const path of ['/v2', '/v2/models/fake', '/v2/models/fake/ready', '/metrics', '/v2/models/fake/stats', '/dashboard']) {
    const none = await fetch(`${s.url}${path}`);
    t.equal(none.status, 401, `${path} without a token`);
    t.equal(none.headers.get('www-authenticate'), 'Bearer realm="parm"');
    t.match(await none.json(), { error: 'missing or invalid bearer token: send Authorization: Bearer <token>' });
    const wrong = await fetch(`${s.url}${path}`, { headers: { Authorization: 'Bearer nope' } });
    t.equal(wrong.status, 401, `${path} with a wrong token`);
    t.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="parm", error="invalid_token"');
    t.equal((await fetch(`${s.url}${path}`, { headers: auth })).status, 200, `${path} with the token`);
  }
  // An inference without the token is refused before its body is read, and the connection closes.
  const body = JSON.stringify({ id: 'x', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(784).fill(0.5) }] });
  const raw = await rawHttp(s.port, `POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  t.same(statusCodes(raw.text), [401]);
  t.ok(raw.closed, 'closed: the unread body is not taken for a request');
  const img = new Float32Array(784).fill(0.25);
  t.match(await inferHttp(s.url, 'fake', img).catch((e: unknown) => e), { name: 'ParmRequestError', status: 401 });
  t.same(Array.from((await inferHttp(s.url, 'fake', img, { token })).output), Array.from(fakeLogits(img)), 'inferHttp with the token');

  const refused = await ParmClient.connect({ url: s.url, model: 'fake', reconnect: false }).catch((e: unknown) => e);
  t.match(refused, { status: 401, message: /: 401 missing or invalid bearer token/ }, 'the stream upgrade needs it too');
  const c = await ParmClient.connect({ url: s.url, model: 'fake', token });
  t.same(Array.from((await c.infer(img)).output), Array.from(fakeLogits(img)), 'the stream with the token');
  await c.close();

  await new Promise((r) => setTimeout(r, 50));
  const log = lines.join('');
  t.notMatch(log, token, 'the token appears in no log line');
  t.notMatch(log, /authorization/i, 'nor does the header');
});

t.test('--cors: preflights are answered and answers to an allowed origin carry Access-Control-* headers', async (t) => {
  const page = 'http://page.example:8080';
  const s = await startServer({ engines: [new FakeEngine()], port: 0, cors: [page, 'https://other.example'], authToken: 'tok' });
  t.teardown(() => s.close());
  const preflight = (origin: string) =>
    fetch(`${s.url}/v2/models/fake/infer`, {
      method: 'OPTIONS',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type, inference-header-content-length' },
    });
  const ok = await preflight(page);
  t.equal(ok.status, 204, 'a preflight needs no token');
  t.equal(ok.headers.get('access-control-allow-origin'), page);
  t.equal(ok.headers.get('access-control-allow-methods'), 'GET, HEAD, POST, OPTIONS');
  t.equal(ok.headers.get('access-control-allow-headers'), 'Authorization, Content-Type, Inference-Header-Content-Length');
  t.equal(ok.headers.get('access-control-max-age'), '600');
  t.equal(ok.headers.get('vary'), 'Origin');
  t.equal(ok.headers.get('content-length'), null, 'a 204 has no Content-Length (RFC 9110 §8.6)');
  const evil = await preflight('http://evil.example');
  t.equal(evil.status, 403);
  t.match(await evil.json(), { error: "origin 'http://evil.example' is not allowed (parm serve --cors)" });
  t.equal(evil.headers.get('access-control-allow-origin'), null);

  // The actual request: the answer names the origin and exposes the binary header length.
  const img = new Float32Array(784).fill(0.5);
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }], parameters: { binary_data_output: true } });
  const r = await fetch(`${s.url}/v2/models/fake/infer`, { method: 'POST', body, headers: { Origin: page, Authorization: 'Bearer tok' } });
  t.equal(r.status, 200);
  t.equal(r.headers.get('access-control-allow-origin'), page);
  t.equal(r.headers.get('access-control-expose-headers'), 'Inference-Header-Content-Length');
  t.equal(r.headers.get('vary'), 'Origin');
  t.ok(r.headers.get('inference-header-content-length'));
  const denied = await fetch(`${s.url}/v2`, { headers: { Origin: page } });
  t.equal(denied.status, 401);
  t.equal(denied.headers.get('access-control-allow-origin'), page, 'a 401 is readable by the page too');
  const foreign = await fetch(`${s.url}/v2/health/live`, { headers: { Origin: 'http://evil.example' } });
  t.equal(foreign.status, 200, 'a request from another origin is answered (the browser withholds it)');
  t.equal(foreign.headers.get('access-control-allow-origin'), null);
  t.equal(foreign.headers.get('vary'), 'Origin');

  const any = await startServer({ engines: [new FakeEngine()], port: 0, cors: ['*'] });
  t.teardown(() => any.close());
  t.equal((await fetch(`${any.url}/v2`, { headers: { Origin: 'http://x.example' } })).headers.get('access-control-allow-origin'), '*');
  const pre = await fetch(`${any.url}/v2/models/fake/infer`, { method: 'OPTIONS', headers: { Origin: 'http://x.example', 'Access-Control-Request-Method': 'POST' } });
  t.equal(pre.status, 204);
  t.equal(pre.headers.get('access-control-allow-origin'), '*');

  const none = await startServer({ engines: [new FakeEngine()], port: 0 });
  t.teardown(() => none.close());
  const off = await fetch(`${none.url}/v2/models/fake/infer`, { method: 'OPTIONS', headers: { Origin: page, 'Access-Control-Request-Method': 'POST' } });
  t.equal(off.status, 405, 'without --cors there is no preflight route');
  t.equal(off.headers.get('access-control-allow-origin'), null);
  t.equal((await fetch(`${none.url}/v2`, { headers: { Origin: page } })).headers.get('access-control-allow-origin'), null);

  await t.rejects(startServer({ engines: [new FakeEngine()], port: 0, cors: ['page.example'] }), { code: 'PARM_ERR_SERVER_CONFIG', message: /--cors 'page\.example': expected '\*' or an origin such as https:\/\/host\[:port\]/ });
});

t.test('--auth-token on gRPC: the authorization metadata, health calls excepted; UNAUTHENTICATED with the HTTP message', async (t) => {
  const token = 'grpc-tok_9';
  const s = await startServer({ engines: [new FakeEngine()], port: 0, grpcPort: 0, authToken: token });
  const address = `127.0.0.1:${s.grpcPort}`;
  const client = new KServeClient(address);
  const triton = new TritonClient(address);
  t.teardown(async () => {
    client.close();
    triton.close();
    await s.close();
  });
  const withToken = (value: string) => {
    const m = new grpc.Metadata();
    m.set('authorization', value);
    return { metadata: m };
  };
  t.same(await client.call('ServerLive', {}), { live: true }, 'ServerLive without a token');
  t.same(await client.call('ServerReady', {}), { ready: true }, 'ServerReady without a token');
  const x = new Float32Array(784).fill(0.75);
  const infer = inferRequest('fake', x, [1, 1, 28, 28], true);
  for (const [method, request] of [['ServerMetadata', {}], ['ModelReady', { name: 'fake' }], ['ModelMetadata', { name: 'fake' }], ['ModelInfer', infer]] as const) {
    for (const [how, o] of [['no token', {}], ['a wrong token', withToken('Bearer nope')], ['another scheme', withToken(`Basic ${token}`)]] as const) {
      const err = (await client.call(method, request, o).catch((e: unknown) => e)) as grpc.ServiceError;
      t.equal(err.code, GRPC_STATUS.UNAUTHENTICATED, `${method} with ${how}`);
      t.equal(err.details, 'missing or invalid bearer token: send Authorization: Bearer <token>');
    }
  }
  const answer = await client.call('ModelInfer', infer, withToken(`Bearer ${token}`));
  t.same(Array.from(floats(answer.raw_output_contents[0])), Array.from(fakeLogits(x)), 'ModelInfer with the token');
  t.match(await client.call('ModelReady', { name: 'fake' }, withToken(`bearer ${token}`)), { ready: true }, 'the scheme in any case');

  const refused = collect(triton.stream());
  await t.rejects(refused.done, { code: GRPC_STATUS.UNAUTHENTICATED }, 'ModelStreamInfer without a token');
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  const call = (triton.raw as unknown as { ModelStreamInfer(md: grpc.Metadata): grpc.ClientDuplexStream<object, any> }).ModelStreamInfer(m);
  const streamed = collect(call);
  call.write({ ...inferRequest('fake', x, [1, 1, 28, 28], true), id: 's1' });
  call.end();
  await streamed.done;
  t.equal(streamed.got.length, 1, 'ModelStreamInfer with the token');
  t.equal(streamed.got[0].infer_response.id, 's1');
});

/** The access log lines among what a logger wrote. */
function accessLines(lines: string[]): Array<Record<string, unknown>> {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
}

t.test('--access-log: one JSON line per inference request on every transport, whatever the log level; none without it', async (t) => {
  const lines: string[] = [];
  // At warn, the server's own info lines are off; the access log still writes.
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
  const engine = new FakeEngine({ delayMs: 150 });
  const s = await startServer({ engines: [engine], port: 0, grpcPort: 0, accessLog: true, logger });
  const client = new KServeClient(`127.0.0.1:${s.grpcPort}`);
  t.teardown(async () => {
    client.close();
    await s.close();
  });
  const x = new Float32Array(784).fill(0.5);
  await inferHttp(s.url, 'fake', x, { id: 'h1' });
  await inferHttp(s.url, 'nope', x, { id: 'h2' }).catch(() => undefined);
  const c = await ParmClient.connect({ url: s.url, model: 'fake' });
  await c.infer(x);
  await c.close();
  await client.call('ModelInfer', { ...inferRequest('fake', x, [1, 1, 28, 28], true), id: 'g1' });
  // A client that hangs up before its answer: logged as aborted, 499.
  const body = JSON.stringify({ id: 'a1', inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(x) }] });
  await rawHttp(s.port, `POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { timeoutMs: 30 });
  const deadline = Date.now() + 5000;
  while (accessLines(lines).length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  const got = accessLines(lines);
  t.equal(got.length, 5, 'one line per request');
  const byId = new Map(got.map((l) => [l.id, l]));
  t.match(byId.get('h1'), { level: 30, model: 'fake', transport: 'http', status: 200, outcome: 'success', reconstructed: false });
  t.match(got.find((l) => l.status === 404), { id: null, model: '', transport: 'http', outcome: 'failure' }, 'an unknown model is refused before the body (and its id) is read');
  t.match(got.find((l) => l.transport === 'ws'), { id: String, model: 'fake', status: 200, outcome: 'success' }, 'the stream (the client numbers its requests)');
  t.match(byId.get('g1'), { model: 'fake', transport: 'grpc', status: 200, outcome: 'success' });
  t.match(byId.get('a1'), { model: 'fake', transport: 'http', status: 499, outcome: 'aborted' });
  const latency = byId.get('h1')!.latencyMs as number;
  t.ok(latency >= 140 && latency < 5000, `latencyMs is the request's time in the server (${latency} ms; the engine takes 150)`);
  t.equal(lines.length, got.length, 'nothing else at warn');

  const quiet: string[] = [];
  const q = await startServer({ engines: [new FakeEngine()], port: 0, logger: pino({ level: 'debug' }, { write: (l: string) => quiet.push(l) }) });
  await inferHttp(q.url, 'fake', x);
  await q.close();
  t.equal(accessLines(quiet).length, 0, 'no access log unless asked for');
  t.ok(quiet.length > 0, 'while the server logs at debug');
});

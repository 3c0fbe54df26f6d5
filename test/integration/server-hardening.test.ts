// What an adversarial client found (issue 16), each case through real sockets on a real server over
// the fake engine: timer-sized timeouts and deadlines, HEAD, requests whose client hung up, duplicate
// and oversized Content-Length, and the HTTP/1.x versions uWebSockets.js does not parse.
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { ParmError } from '../../src/errors.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { hasResponses, rawHttp, statusCodes } from '../helpers/raw-http.js';

function image(seed: number): Float32Array {
  const a = new Float32Array(784);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 13 + seed * 101) % 255) / 255;
  return a;
}

function inferBody(parameters: Record<string, unknown>, id = 'h'): string {
  return JSON.stringify({ id, parameters, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(image(1)) }] });
}

const engine = new FakeEngine({ delayMs: 1 });
let server: ParmServer;

t.before(async () => {
  server = await startServer({ engines: [engine], port: 0 });
});
t.teardown(() => server.close());

async function wsAnswer(text: string): Promise<Record<string, unknown>> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v2/models/fake/infer/stream`, { perMessageDeflate: false });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const answer = new Promise<Record<string, unknown>>((res) => ws.once('message', (d) => res(JSON.parse(d.toString()))));
  ws.send(text);
  const a = await answer;
  ws.close();
  return a;
}

t.test('timeouts and deadlines a Node timer cannot hold are refused with a 400 naming the maximum', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ parm_timeout_ms: 2 ** 31 }, /parameters\.parm_timeout_ms must be a number in \(0, 2147483647\], got 2147483648/],
    [{ parm_timeout_ms: 1e12 }, /parameters\.parm_timeout_ms must be a number in \(0, 2147483647\]/],
    [{ parm_deadline_ms: 2 ** 31 }, /parameters\.parm_deadline_ms must be a number in \[0, 2147483647\], got 2147483648/],
    [{ parm_decode: 'deadline', parm_deadline_ms: 1e15 }, /parameters\.parm_deadline_ms must be a number in \[0, 2147483647\]/],
  ];
  for (const [parameters, message] of cases) {
    const name = JSON.stringify(parameters);
    const r = await fetch(`${server.url}/v2/models/fake/infer`, { method: 'POST', body: inferBody(parameters) });
    t.equal(r.status, 400, `HTTP ${name}`);
    t.match(((await r.json()) as { error: string }).error, message, `HTTP ${name}`);
    const a = await wsAnswer(inferBody(parameters, 'w'));
    t.equal(a.id, 'w', `WS ${name}`);
    t.match(a.error, message, `WS ${name}`);
  }
  // The largest value a timer holds is accepted, and the request is answered (not timed out at once).
  const r = await fetch(`${server.url}/v2/models/fake/infer`, { method: 'POST', body: inferBody({ parm_timeout_ms: 2 ** 31 - 1, parm_deadline_ms: 0 }) });
  t.equal(r.status, 200, 'parm_timeout_ms 2147483647 is served');
  t.equal(engine.lastOptions?.timeoutMs, 2 ** 31 - 1, 'and reaches the engine as given');
});

/** One request over `agent` (keep-alive, one socket): status, headers, body, and whether the socket was reused. */
function request(agent: http.Agent, method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${server.url}${path}`, { method, agent }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('HEAD: GET routes answer with their status and headers and no body; other routes 404/405 without a body; the socket stays usable', async (t) => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (const path of ['/v2/health/ready', '/v2/health/live', '/v2', '/v2/models/fake', '/v2/models/fake/ready', '/metrics']) {
    const head = await request(agent, 'HEAD', path);
    const get = await request(agent, 'GET', path);
    t.equal(head.status, get.status, `HEAD ${path}: the GET status`);
    t.equal(head.body, '', `HEAD ${path}: no body`);
    t.equal(head.headers['content-type'], get.headers['content-type'], `HEAD ${path}: the GET content type`);
    if (path !== '/metrics') t.equal(head.headers['content-length'], String(Buffer.byteLength(get.body, 'latin1')), `HEAD ${path}: the GET length`);
    t.ok(get.reused, `GET ${path} after HEAD on the same socket`);
  }
  const refused: Array<[string, number]> = [
    ['/v2/models/fake/infer', 405],
    ['/v2/repository/index', 405],
    ['/v2/models/nope', 404],
    ['/nothing', 404],
  ];
  for (const [path, status] of refused) {
    const head = await request(agent, 'HEAD', path);
    t.equal(head.status, status, `HEAD ${path}`);
    t.equal(head.body, '', `HEAD ${path}: no body`);
    const live = await request(agent, 'GET', '/v2/health/live');
    t.equal(live.status, 200, `the next answer after HEAD ${path} parses`);
  }
  const r405 = await fetch(`${server.url}/v2/models/fake/infer`);
  t.equal(r405.headers.get('allow'), 'POST', '405 says which method the route takes');
  t.equal((await fetch(`${server.url}/v2/health/live`, { method: 'POST' })).headers.get('allow'), 'GET, HEAD');
});

t.test('duplicate Content-Length headers: 400 and close, and a request hidden in the body is never answered', async (t) => {
  const calls = engine.calls;
  const hidden = 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n';
  const body = `{"a":1}${hidden}`;
  // Two lengths 7 and 36: parm reading the first would answer twice (the hidden GET as a second request).
  const smuggled = await rawHttp(server.port, `POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  t.ok(smuggled.closed, 'the connection is closed');
  t.notOk(smuggled.timedOut);
  const codes = statusCodes(smuggled.text);
  t.notOk(codes.includes(200), `the hidden request is not answered (got ${codes.join(', ') || 'nothing'})`);
  t.ok(codes.length <= 1 && codes.every((c) => c === 400), 'at most the 400');

  for (const [name, lengths, route] of [
    ['differing lengths', ['7', '9'], 'POST /v2/models/fake/infer'],
    ['equal lengths', ['7', '7'], 'POST /v2/models/fake/infer'],
    ['on a GET route', ['7', '8'], 'GET /v2/health/live'],
    ['an empty one first', ['', '7'], 'POST /v2/repository/index'],
  ] as const) {
    const r = await rawHttp(server.port, `${route} HTTP/1.1\r\nHost: x\r\n${lengths.map((l) => `Content-Length: ${l}\r\n`).join('')}\r\n{"a":1}`);
    t.same(statusCodes(r.text), [400], `${name}: one 400`);
    t.match(r.text, /\r\nConnection: close\r\n/i, `${name}: says close`);
    t.match(r.text, /"error":"duplicate Content-Length headers/, name);
    t.ok(r.closed, `${name}: and closes`);
  }
  t.equal(engine.calls, calls, 'nothing reached the engine');
});

t.test('a Content-Length uWebSockets.js cannot read still gets its answer before the connection closes', async (t) => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['10 digits', 'Content-Length: 9999999999', 413, /request body of 9999999999 bytes exceeds the limit of 8388608 bytes/],
    ['20 digits', 'Content-Length: 99999999999999999999', 413, /exceeds the limit of 8388608 bytes/],
    ['9 digits (read by uWS)', 'Content-Length: 999999999', 413, /request body of 999999999 bytes exceeds the limit/],
    ['10 digits, small value', 'Content-Length: 0000000005', 400, /Content-Length '0000000005' has more than 9 digits/],
    ['not a number', 'Content-Length: 12a', 400, /invalid Content-Length '12a'/],
    ['signed', 'Content-Length: +5', 400, /invalid Content-Length '\+5'/],
    ['an encoding uWS does not decode', 'Transfer-Encoding: gzip', 400, /Transfer-Encoding 'gzip' is not supported/],
  ];
  for (const [name, header, status, message] of cases) {
    const r = await rawHttp(server.port, `POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\n${header}\r\n\r\nhello`);
    t.same(statusCodes(r.text), [status], `${name}: ${status}`);
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    t.match(body ? (JSON.parse(body) as { error: string }).error : '', message, `${name}: a JSON error body`);
    t.ok(r.closed, `${name}: then the connection closes`);
  }
  // A chunked body (which uWS decodes) is still read and answered.
  const json = inferBody({});
  const chunked = await rawHttp(server.port, `POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`, { until: hasResponses(1) });
  t.same(statusCodes(chunked.text), [200], 'chunked upload');
});

t.test('HTTP/1.x requests uWebSockets.js does not parse: what arrives (docs/protocol.md "HTTP/1.x")', async (t) => {
  // Without Host but with other headers: closed at once, without an answer (uWS decides; no parm code runs).
  const noHost = await rawHttp(server.port, 'GET /v2/health/live HTTP/1.1\r\nAccept: */*\r\n\r\n', { timeoutMs: 5000 });
  t.ok(noHost.closed, 'HTTP/1.1 without Host: closed well before the idle timeout');
  t.equal(noHost.text, '', 'with no answer');
  // HTTP/1.0, other versions, and a request line with no header lines are never parsed: no handler
  // runs, so parm cannot answer; uWS closes the connection at its fixed 10 s HTTP idle timeout.
  const unparsed = ['GET /v2/health/live HTTP/1.0\r\n\r\n', 'GET /v2/health/live HTTP/1.0\r\nHost: x\r\n\r\n', 'GET /v2/health/live HTTP/2.0\r\nHost: x\r\n\r\n', 'GET /v2/health/live HTTP/1.1\r\n\r\n'];
  const results = await Promise.all(unparsed.map((r) => rawHttp(server.port, r, { timeoutMs: 30_000 })));
  results.forEach((r, i) => {
    const line = JSON.stringify(unparsed[i]!.split('\r\n')[0]);
    t.ok(r.closed, `${line}: closed by the server`);
    t.equal(r.text, '', `${line}: without an answer`);
  });
  t.equal((await fetch(`${server.url}/v2/health/live`)).status, 200, 'and the server serves on');
});

t.test('a request whose client hung up before the answer counts as aborted, on the success and the error path, over HTTP and the stream', async (t) => {
  const slow = new FakeEngine({ name: 'slow', delayMs: 150 });
  const broken = new FakeEngine({ name: 'broken', delayMs: 150, failWith: new ParmError('PARM_ERR_ENGINE_INSTANCE', 'instance failed') });
  const s = await startServer({ engines: [slow, broken], port: 0 });
  t.teardown(() => s.close());
  const body = inferBody({});
  const sent = async (model: string) => {
    // A full request, then the socket is gone before the engine answers.
    const socket = net.connect(s.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /v2/models/${model}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await new Promise((r) => setTimeout(r, 30));
    socket.destroy();
  };
  const streamed = async (model: string) => {
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/v2/models/${model}/infer/stream`, { perMessageDeflate: false });
    await new Promise((res, rej) => ws.once('open', res).once('error', rej));
    ws.send(inferBody({}, 'gone'));
    await new Promise((r) => setTimeout(r, 30));
    ws.terminate();
  };
  await Promise.all([sent('slow'), sent('broken'), streamed('slow'), streamed('broken')]);
  t.equal(slow.calls + broken.calls, 4, 'every request reached its engine');
  while (slow.pending + broken.pending > 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 20));
  const m = await (await fetch(`${s.url}/metrics`)).text();
  for (const model of ['slow', 'broken']) {
    for (const transport of ['http', 'ws']) {
      t.match(m, new RegExp(`parm_requests_total\\{model="${model}",transport="${transport}",outcome="aborted",status="499"\\} 1\\n`), `${model} over ${transport}: aborted`);
      t.notMatch(m, new RegExp(`parm_requests_total\\{model="${model}",transport="${transport}",outcome="(success|failure)"`), `${model} over ${transport}: not a success or failure`);
    }
  }
  t.notMatch(m, /parm_request_duration_seconds_count\{model="slow"/, 'no latency observed for an answer nobody received');
  t.match(m, /parm_requests_in_flight\{transport="http"\} 0/);
  t.match(m, /parm_requests_in_flight\{transport="ws"\} 0/);
});

// What an adversarial client found (issue 16), each case through real sockets on a real server over
// the fake engine: timer-sized timeouts and deadlines, HEAD, requests whose client hung up, duplicate
// and oversized Content-Length, and the HTTP/1.x versions uWebSockets.js does not parse.
import t from 'tap';
import WebSocket from 'ws';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { FakeEngine } from '../helpers/fake-engine.js';

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

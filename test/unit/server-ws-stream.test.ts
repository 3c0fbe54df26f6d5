// The stream front's logic (src/server/ws-stream.ts) without a socket: onStreamMessage driven with
// a fake uWS WebSocket and the fake engine. Answers in the request's framing with its id, the one
// id check, framing closes, the in-flight limit, parking while the client does not read, the
// hard backpressure close, admission while draining or loading, and the close accounting.
import { pino } from 'pino';
import t from 'tap';
import { ServerContext } from '../../src/server/context.js';
import { resolveLimits, type ServerLimits } from '../../src/server/limits.js';
import { onStreamClose, onStreamMessage, releaseParked, type StreamConnection } from '../../src/server/ws-stream.js';
import { encodeFrame, fp32Bytes, readMessage } from '../../src/wire/index.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';
import { FakeSocket } from '../helpers/fake-uws.js';

const silent = pino({ level: 'silent' });

function setup(engine = new FakeEngine(), limits: Partial<ServerLimits> = {}) {
  const ctx = new ServerContext([engine], resolveLimits(limits), silent);
  const conn: StreamConnection = { model: engine.options.name, engine, inFlight: 0, parked: [], closed: false };
  const sock = new FakeSocket(conn);
  const message = (m: string | Uint8Array, isBinary = typeof m !== 'string') => {
    const bytes = typeof m === 'string' ? new TextEncoder().encode(m) : m;
    onStreamMessage(ctx, sock.ws, bytes.slice().buffer, isBinary);
  };
  const answers = () => sock.sent.map((s) => ({ binary: s.binary, ...readMessage(s.bytes, s.binary) }) as { binary: boolean; header: any; tensors: Uint8Array });
  return { ctx, conn, sock, engine, message, answers };
}

function image(seed: number): Float32Array {
  const a = new Float32Array(784);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 31 + seed * 977) % 255) / 255;
  return a;
}

function binaryRequest(id: unknown, img: Float32Array, extra: Record<string, unknown> = {}): Uint8Array {
  const header = { id, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 3136 } }], ...extra };
  return encodeFrame(JSON.stringify(header), [fp32Bytes(img)]);
}

function textRequest(id: unknown, img: Float32Array): string {
  return JSON.stringify({ id, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', data: Array.from(img) }] });
}

const settle = (ms = 5) => new Promise((r) => setTimeout(r, ms));

t.test('answers in the framing of the request, with its id', async (t) => {
  const { message, answers, conn, ctx } = setup();
  message(binaryRequest('b', image(1)));
  message(textRequest(7, image(2)));
  t.equal(conn.inFlight, 2, 'both in flight');
  t.equal(ctx.requestsInFlight, 2);
  await settle();
  const [b, j] = answers();
  t.equal(b!.binary, true);
  t.equal(b!.header.id, 'b');
  t.same(Array.from(new Float32Array(b!.tensors.slice().buffer)), Array.from(fakeLogits(image(1))));
  t.equal(j!.binary, false);
  t.equal(j!.header.id, 7, 'a numeric id echoed as a number');
  t.same(j!.header.outputs[0].data, Array.from(fakeLogits(image(2))));
  t.equal(conn.inFlight, 0);
  t.equal(ctx.requestsInFlight, 0);
});

t.test('errors answer with the id when it could be read, and the connection stays open', async (t) => {
  const { message, answers, sock, engine } = setup();
  const img = image(3);
  message('{"id": "x", "inputs": [');
  message(JSON.stringify({ inputs: [] }));
  message(textRequest('', img));
  message(textRequest({ not: 'an id' }, img));
  message('[1, 2]');
  message(binaryRequest('short', img).subarray(0, -4));
  const got = answers().map((a) => [a.header.id, a.header.error]);
  t.match(got, [
    [null, /^malformed JSON in text frame/],
    [null, /^missing 'id'/],
    ['', /^missing 'id'/],
    [null, /^'id' must be a string or a finite number/],
    [null, /^the inference request must be a JSON object/],
    ['short', /binary_data_size 3136 but 3132 bytes/],
  ]);
  t.equal(sock.ended, undefined, 'not closed');
  t.equal(engine.calls, 0, 'nothing reached the engine');
  message(binaryRequest('ok', img));
  await settle();
  t.equal(answers().at(-1)!.header.id, 'ok', 'still serving');
});

t.test('framing violations and oversized messages close with a code and a reason', async (t) => {
  const cases: Array<[string, Uint8Array, number, RegExp]> = [
    ['short binary frame', new Uint8Array([1, 2]), 1002, /binary frame of 2 bytes/],
    ['header length beyond the frame', encodeFrame('x'.repeat(500)).subarray(0, 40), 1002, /header length 500 exceeds the frame \(36 bytes/],
    ['oversized', new Uint8Array(2048 + 1), 1009, /message of 2049 bytes exceeds the limit of 2048 bytes/],
  ];
  for (const [name, bytes, code, re] of cases) {
    const { message, sock } = setup(new FakeEngine(), { maxMessageBytes: 2048 });
    message(bytes, true);
    t.equal(sock.ended?.code, code, name);
    t.match(sock.ended?.reason, re, name);
    message(binaryRequest('after', image(1)));
    t.equal(sock.sent.length, 0, `${name}: nothing more is sent once closed`);
  }
});

t.test('the in-flight limit answers the excess at once, with ids', async (t) => {
  const { message, answers, engine } = setup(new FakeEngine({ delayMs: 20 }), { maxInFlightPerConnection: 3 });
  for (let i = 0; i < 5; i++) message(binaryRequest(i, image(i)));
  const refused = answers();
  t.same(refused.map((a) => a.header.id), [3, 4]);
  t.match(refused[0]!.header.error, /too many requests in flight on this connection \(limit 3\)/);
  t.equal(engine.calls, 3);
  await settle(40);
  t.equal(answers().filter((a) => !a.header.error).length, 3);
});

t.test('a client that does not read: requests park, then start in order as it drains', async (t) => {
  const { message, answers, sock, engine, conn, ctx } = setup(new FakeEngine(), { wsBackpressureBytes: 1000, wsMaxBackpressureBytes: 100_000 });
  sock.buffered = 5000;
  for (let i = 0; i < 4; i++) message(binaryRequest(`p${i}`, image(i)));
  await settle();
  t.equal(engine.calls, 0, 'none started while the backlog is over the soft limit');
  t.equal(conn.parked.length, 4);
  t.equal(conn.inFlight, 4, 'parked requests count against the in-flight limit');
  sock.buffered = 0;
  releaseParked(ctx, sock.ws);
  t.equal(engine.calls, 4, 'all started on drain');
  await settle();
  t.same(answers().map((a) => a.header.id), ['p0', 'p1', 'p2', 'p3'], 'in arrival order');
  t.equal(ctx.requestsInFlight, 0);
});

t.test('past the hard backpressure limit the client is closed (1008) instead of answered', async (t) => {
  const { message, sock } = setup(new FakeEngine(), { wsBackpressureBytes: 1000, wsMaxBackpressureBytes: 2000 });
  message(binaryRequest('a', image(1)));
  sock.buffered = 5000;
  await settle();
  t.equal(sock.sent.length, 0);
  t.same(sock.ended, { code: 1008, reason: 'backpressure limit exceeded: the client is not reading' });
});

t.test('admission: draining and not-ready engines answer errors, checked once per request', async (t) => {
  const late = setup(new FakeEngine({ name: 'late', startNotReady: true }));
  late.message(binaryRequest('n', image(1)));
  t.match(late.answers()[0]!.header, { id: 'n', error: "model 'late' is not ready: loading" });
  t.equal(late.conn.inFlight, 0);
  const draining = setup();
  draining.ctx.startDraining();
  draining.message(textRequest('d', image(1)));
  t.match(draining.answers()[0]!.header, { id: 'd', error: 'server is shutting down' });
  t.equal(draining.engine.calls, 0);
});

t.test('an answer after the connection closed is dropped; the accounting is released', async (t) => {
  const { message, sock, conn, ctx } = setup(new FakeEngine({ delayMs: 10 }));
  message(binaryRequest('gone', image(1)));
  conn.closed = true;
  await settle(30);
  t.equal(sock.sent.length, 0, 'nothing sent to a closed socket');
  t.equal(conn.inFlight, 0);
  t.equal(ctx.requestsInFlight, 0);
});

t.test('closing with requests parked releases their in-flight accounting; they never start', async (t) => {
  const { message, sock, conn, ctx, engine } = setup(new FakeEngine(), { wsBackpressureBytes: 1000 });
  sock.buffered = 5000;
  message(binaryRequest('p0', image(1)));
  message(binaryRequest('p1', image(2)));
  t.equal(ctx.requestsInFlight, 2);
  onStreamClose(ctx, sock.ws);
  t.equal(conn.closed, true);
  t.equal(conn.parked.length, 0);
  t.equal(ctx.requestsInFlight, 0, 'a drain waiting for them is not held up');
  sock.buffered = 0;
  releaseParked(ctx, sock.ws);
  await settle();
  t.equal(engine.calls, 0);
});

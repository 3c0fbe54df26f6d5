// ModelStreamInfer's handler on a fake call (no sockets) over the fake engine: it stops reading at
// the in-flight limit and while the client does not read, resumes as answers go out, answers
// errors in `error_message` without ending the stream, ends the stream once the client has
// half-closed and everything is answered, and withdraws every query when the client cancels.
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import t from 'tap';
import { modelStreamInfer, StreamRegistry, type InferStream, type StreamInferResponse } from '../../src/grpc/stream.js';
import { ServerContext } from '../../src/server/context.js';
import { resolveLimits } from '../../src/server/limits.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';

class FakeCall extends EventEmitter {
  paused = false;
  /** What write() returns: false makes the handler wait for 'drain'. */
  writable = true;
  readonly written: StreamInferResponse[] = [];
  ended = false;
  pause() {
    this.paused = true;
    return this;
  }
  resume() {
    this.paused = false;
    return this;
  }
  write(m: StreamInferResponse) {
    this.written.push(m);
    return this.writable;
  }
  end() {
    this.ended = true;
    return this;
  }
  getDeadline() {
    return Infinity;
  }
}

const x = Float32Array.from({ length: 784 }, (_, i) => (i % 13) / 13);
const msg = (id: string, model = 'fake') => ({
  model_name: model,
  model_version: '',
  id,
  parameters: {},
  inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '1', '28', '28'], parameters: {}, contents: null }],
  outputs: [],
  raw_input_contents: [Buffer.from(x.buffer)],
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error('condition not reached');
}

function setup(engine: FakeEngine, maxInFlightPerConnection = 2) {
  const ctx = new ServerContext([engine], resolveLimits({ maxInFlightPerConnection }), pino({ level: 'silent' }));
  const call = new FakeCall();
  modelStreamInfer(ctx, new StreamRegistry())(call as unknown as InferStream);
  return { ctx, call };
}

t.test('stops reading at the in-flight limit and resumes as answers go out', async (t) => {
  const engine = new FakeEngine({ delayMs: 20 });
  const { call, ctx } = setup(engine, 2);
  call.emit('data', msg('a'));
  t.equal(call.paused, false, 'one in flight: still reading');
  call.emit('data', msg('b'));
  t.equal(call.paused, true, 'at the limit: paused (HTTP/2 flow control holds the client)');
  t.equal(ctx.requestsInFlight, 2);
  await until(() => call.written.length === 2);
  t.equal(call.paused, false, 'answers out: reading again');
  t.same(
    call.written.map((w) => w.infer_response?.id),
    ['a', 'b'],
  );
  const out = call.written[0]!.infer_response!.raw_output_contents![0]!;
  t.same(Array.from(new Float32Array(Uint8Array.from(out).buffer)), Array.from(fakeLogits(x)));
  t.equal(call.ended, false, 'the client has not half-closed: the stream stays open');
  call.emit('end');
  t.equal(call.ended, true, 'half-closed and nothing in flight: the server ends the stream');
});

t.test('a client that does not read its answers is not read from either', async (t) => {
  const engine = new FakeEngine({ delayMs: 1 });
  const { call } = setup(engine, 8);
  call.writable = false;
  call.emit('data', msg('a'));
  await until(() => call.written.length === 1);
  t.equal(call.paused, true, 'the write buffer is full: paused');
  call.writable = true;
  call.emit('drain');
  t.equal(call.paused, false, 'drained: reading again');
});

t.test('errors are answers; the stream stays open; the end waits for the last answer', async (t) => {
  const engine = new FakeEngine({ delayMs: 30 });
  const { call } = setup(engine, 4);
  call.emit('data', msg('slow'));
  call.emit('data', msg('bad', 'nope'));
  call.emit('end');
  t.equal(call.ended, false, 'one still in flight');
  await until(() => call.ended);
  const byId = new Map(call.written.map((w) => [w.infer_response?.id, w]));
  t.equal(byId.get('bad')?.error_message, "unknown model 'nope'");
  t.equal(byId.get('slow')?.error_message, '');
});

t.test('a cancelled stream withdraws its queries from the engine and sends nothing more', async (t) => {
  const engine = new FakeEngine({ delayMs: 5000 });
  const { call, ctx } = setup(engine, 4);
  call.emit('data', msg('a'));
  call.emit('data', msg('b'));
  t.equal(engine.pending, 2);
  call.emit('cancelled');
  await until(() => engine.pending === 0);
  t.equal(engine.cancelled, 2);
  await until(() => ctx.requestsInFlight === 0);
  t.same(call.written, [], 'nothing is written to a cancelled call');
});

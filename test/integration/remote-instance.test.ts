// A remote instance against a stand-in OIP server on 127.0.0.1 that can be slow, reset, answer
// 500, garbage or the wrong shape, hang, refuse connections, and come back; then an engine whose
// deployed and parity instances are all remote.
import t, { type Test } from 'tap';
import { realClock } from '../../src/engine/clock.js';
import { createEngine } from '../../src/engine/engine.js';
import type { InstanceEvents, InstanceSpec, ModelSignature } from '../../src/engine/instance.js';
import { RemoteInstance, parseModelUrl, type RemoteBackend } from '../../src/engine/remote-instance.js';
import { IN, fakeModel } from '../helpers/fake-instances.js';
import { startStandIn, type StandIn } from '../helpers/stand-in-oip-server.js';

type Event =
  | { e: 'ready'; sig: ModelSignature }
  | { e: 'result'; taskId: number; output: Float32Array; shape: number[] }
  | { e: 'error'; taskId: number; message: string }
  | { e: 'down'; taskIds: number[]; reason: string };

function recorder(): { events: Event[]; handlers: InstanceEvents; next(kind: Event['e'], timeoutMs?: number): Promise<Event> } {
  const events: Event[] = [];
  const waiters: (() => void)[] = [];
  const push = (ev: Event): void => {
    events.push(ev);
    for (const w of waiters.splice(0)) w();
  };
  let seen = 0;
  return {
    events,
    handlers: {
      onReady: (_i, sig) => push({ e: 'ready', sig }),
      onResult: (_i, taskId, output, shape) => push({ e: 'result', taskId, output, shape }),
      onTaskError: (_i, taskId, message) => push({ e: 'error', taskId, message }),
      onDown: (_i, taskIds, reason) => push({ e: 'down', taskIds, reason }),
      onGaveUp: () => undefined,
    },
    /** The next event of `kind` after the ones already returned. */
    async next(kind, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex((ev, j) => j >= seen && ev.e === kind);
        if (i >= 0) {
          seen = i + 1;
          return events[i]!;
        }
        if (Date.now() > until) throw new Error(`no '${kind}' event within ${timeoutMs} ms (got ${events.map((e) => e.e).join(', ')})`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
  };
}

function spec(backend: RemoteBackend): InstanceSpec {
  return { id: 'deployed-0', role: 'deployed', row: 0, modelPath: undefined, backend, threads: 1, isolation: 'thread', heartbeatMs: 50, hangTimeoutMs: undefined, nice: 0, maxStartFailures: 5, faults: [] };
}

const x = (i: number): Float32Array => Float32Array.from({ length: IN }, (_, j) => i + j);

async function remote(server: StandIn, overrides: Partial<RemoteBackend> = {}) {
  const rec = recorder();
  const backend: RemoteBackend = { url: server.url, concurrency: 1, connectTimeoutMs: 500, requestTimeoutMs: 3000, ...overrides };
  const inst = new RemoteInstance(spec(backend), backend, rec.handlers, realClock);
  inst.start();
  return { inst, rec };
}

t.test('model endpoint URLs are checked', async (t) => {
  t.same(parseModelUrl('http://h:1/v2/models/m/versions/2'), { origin: 'http://h:1', path: '/v2/models/m/versions/2' });
  t.throws(() => parseModelUrl('ftp://h/v2/models/m'), /only http/);
  t.throws(() => parseModelUrl('http://h:1/models/m'), /the path must be \/v2\/models\/NAME/);
  t.throws(() => parseModelUrl('not a url'), /is not a URL/);
});

t.test('reads metadata, runs with the binary extension, and fails like a crashed instance on every bad answer', async (t) => {
  const server = await startStandIn();
  t.teardown(() => server.close());
  const { inst, rec } = await remote(server);
  t.teardown(() => inst.close());
  const ready = await rec.next('ready');
  t.same(ready.e === 'ready' && ready.sig.inputs[0], { name: 'input', shape: [-1, IN], type: 'float32' });
  t.equal(inst.freeSlots, 1);
  t.equal(inst.health().backend, server.url);
  t.equal(inst.health().circuit, 'closed');

  const batch = new Float32Array([...x(1), ...x(2)]);
  inst.run(1, batch, [2, IN]);
  t.equal(inst.freeSlots, 0, 'one request at a time by default');
  const r = await rec.next('result');
  t.same(r.e === 'result' && Array.from(r.output), [...fakeModel(x(1)), ...fakeModel(x(2))]);
  t.equal(inst.health().completedRuns, 1, 'a run with a result is counted');

  for (const [behaviour, reason] of [
    ['http500', /HTTP 500/],
    ['reset', /request failed/],
    ['garbage', /malformed answer/],
    ['wrong-shape', /the answer has 6 floats, expected 4/],
  ] as const) {
    server.behaviour = behaviour;
    inst.run(10, batch, [2, IN]);
    const d = await rec.next('down');
    t.ok(d.e === 'down' && reason.test(d.reason), `${behaviour}: down (${d.e === 'down' ? d.reason : ''})`);
    t.same(d.e === 'down' && d.taskIds, [10], 'the task in flight is reported');
    t.equal(inst.health().circuit, 'open');
    t.equal(inst.freeSlots, 0, 'no work while the breaker is open');
    server.behaviour = 'ok';
    await rec.next('ready');
    t.equal(inst.health().circuit, 'closed', `${behaviour}: rejoined after a probe`);
  }
  t.equal(inst.restarts, 4);

  server.behaviour = 'http400';
  inst.run(20, batch, [2, IN]);
  const e = await rec.next('error');
  t.ok(e.e === 'error' && /refused the request/.test(e.message), 'a 400 fails the task, not the instance');
  t.equal(inst.health().circuit, 'closed');
  t.equal(inst.health().completedRuns, 1, 'failed runs and refusals are not counted');
});

/** A ready remote instance (300 ms request timeout) whose stand-in backend then stops answering. */
async function hungBackend(t: Test) {
  const server = await startStandIn();
  t.teardown(() => server.close());
  const { inst, rec } = await remote(server, { requestTimeoutMs: 300 });
  t.teardown(() => inst.close());
  await rec.next('ready');
  server.behaviour = 'hang';
  return { server, inst, rec };
}

t.test('a hung backend times out; a refusing one is probed until it comes back', async (t) => {
  const { server, inst, rec } = await hungBackend(t);
  inst.run(1, x(1), [1, IN]);
  const d = await rec.next('down');
  t.ok(d.e === 'down' && /no answer within 300 ms/.test(d.reason), d.e === 'down' ? d.reason : '');
  for (let i = 0; i < 40 && server.aborted === 0; i++) await new Promise((r) => setTimeout(r, 25));
  t.equal(server.aborted, 1, 'the hung request was aborted');
  server.behaviour = 'ok';
  await rec.next('ready');
  await server.refuse();
  inst.run(2, x(2), [1, IN]);
  const refused = await rec.next('down');
  t.ok(refused.e === 'down' && /request failed/.test(refused.reason), 'connection refused');
  await new Promise((r) => setTimeout(r, 300));
  t.not(inst.health().circuit, 'closed', 'open or probing while the backend refuses');
  t.equal(inst.freeSlots, 0);
  await server.reopen();
  await rec.next('ready', 15_000);
  inst.run(3, x(3), [1, IN]);
  const r = await rec.next('result');
  t.same(r.e === 'result' && Array.from(r.output), Array.from(fakeModel(x(3))), 'serves again');
});

t.test('a black-holed backend whose requests are all abandoned is marked down after the hang limit', async (t) => {
  const { server, inst, rec } = await hungBackend(t);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Each request is answered from parity elsewhere and abandoned at once: its own timeout never runs.
  inst.run(1, x(1), [1, IN]);
  t.equal(inst.abandon(1), true);
  await sleep(400);
  inst.checkAlive(realClock.now());
  await sleep(20);
  t.equal(inst.health().circuit, 'closed', 'one abandoned request, then a quiet spell: still up');
  for (const id of [2, 3]) {
    inst.run(id, x(id), [1, IN]);
    inst.abandon(id);
  }
  inst.checkAlive(realClock.now());
  const d = await rec.next('down');
  t.ok(d.e === 'down' && /no answer to the last 3 requests in \d+ ms/.test(d.reason), d.e === 'down' ? d.reason : '');
  t.equal(inst.health().circuit === 'closed', false, 'marked down');
  server.behaviour = 'ok';
  await rec.next('ready');
  inst.run(4, x(4), [1, IN]);
  const r = await rec.next('result');
  t.same(r.e === 'result' && Array.from(r.output), Array.from(fakeModel(x(4))), 'back once it answers again');
});

t.test('abandon aborts the request at the backend and frees the slot; concurrency runs several at once', async (t) => {
  const server = await startStandIn();
  t.teardown(() => server.close());
  const { inst, rec } = await remote(server, { concurrency: 2 });
  t.teardown(() => inst.close());
  await rec.next('ready');
  server.behaviour = 'slow';
  server.delayMs = 400;
  inst.run(1, x(1), [1, IN]);
  t.equal(inst.freeSlots, 1);
  inst.run(2, x(2), [1, IN]);
  t.equal(inst.freeSlots, 0);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(server.maxConcurrent, 2, 'two requests in flight at the backend');
  t.equal(inst.abandon(1), true);
  t.equal(inst.freeSlots, 1, 'the slot is free at once');
  const r = await rec.next('result');
  t.equal(r.e === 'result' && r.taskId, 2, 'only the task not abandoned reports');
  await new Promise((r) => setTimeout(r, 500));
  t.equal(rec.events.filter((e) => e.e === 'result').length, 1);
  t.equal(server.aborted, 1, 'the backend saw the abandoned request go');
});

t.test('an engine on remote instances: readiness, reconstruction of a hung backend, abort, and a refused mismatch', async (t) => {
  const [a, b, p] = await Promise.all([startStandIn(), startStandIn(), startStandIn()]);
  t.teardown(() => Promise.all([a.close(), b.close(), p.close()]));
  const engine = await createEngine({
    name: 'remote',
    deployedBackends: [a.url, b.url],
    parityModels: [{ backends: [p.url] }],
    k: 2,
    groupWaitMs: 50,
  });
  t.teardown(() => engine.close());
  t.equal(engine.isReady(), true);
  t.same(engine.metrics().instances.map((i) => [i.id, i.backend]), [['deployed-0', a.url], ['deployed-1', b.url], ['parity-0', p.url]]);
  t.same(engine.info.inputs[0]!.shape, [-1, IN]);
  b.behaviour = 'hang';
  const xs = [x(1), x(2)];
  const rs = await Promise.all(xs.map((q) => engine.infer(q)));
  t.same(rs.map((r) => r.reconstructed), [false, true], 'the query on the hung backend is answered from parity');
  t.same(Array.from(rs[1]!.output), Array.from(fakeModel(xs[1]!)), 'exactly, for the linear stand-in model');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(engine.metrics().abandoned, 1, 'the request still running on the hung backend was aborted');
  t.equal(b.aborted, 1);

  p.inputShape = [-1, IN + 1];
  await t.rejects(
    createEngine({ name: 'bad', deployedBackends: [a.url], parityModels: [{ backends: [p.url] }], k: 2 }),
    { code: 'PARM_ERR_ENGINE_CONFIG', message: new RegExp(`parityModels\\[0\\]: its input/output shapes must equal`) },
    'a parity backend of another shape is refused at start',
  );
  a.inputShape = [-1, IN + 1];
  await t.rejects(
    createEngine({ name: 'bad2', deployedBackends: [b.url, a.url], mode: 'none' }),
    { code: 'PARM_ERR_ENGINE_CONFIG', message: new RegExp(`${a.url.replace(/[/.]/g, '\\$&')} cannot serve as deployed-1: its input 'input' is float32 \\[-1,5\\]`) },
    'a deployed backend of another shape is refused, naming its URL',
  );
});

t.test('an unreachable backend does not block the start; it joins when it comes', async (t) => {
  const a = await startStandIn();
  const late = await startStandIn();
  t.teardown(() => Promise.all([a.close(), late.close()]));
  await late.refuse();
  const engine = await createEngine({ name: 'partial', deployedBackends: [a.url, late.url], mode: 'none' });
  t.teardown(() => engine.close());
  t.equal(engine.isReady(), true, 'ready with one deployed instance up');
  const states = engine.metrics().instances.map((i) => i.state);
  // Its first probe failed; the next (50 ms backoff) may already be under way on a busy machine.
  t.ok(states[0] === 'ready' && (states[1] === 'down' || states[1] === 'restarting'), `one instance up, the unreachable one not (${states.join(', ')})`);
  await late.reopen();
  for (let i = 0; i < 200 && engine.metrics().instances[1]!.state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(engine.metrics().instances[1]!.state, 'ready', 'joined by itself');
  const rs = await Promise.all([1, 2, 3, 4].map((i) => engine.infer(x(i))));
  t.ok(rs.every((r, i) => r.output[0] === fakeModel(x(i + 1))[0]));
});



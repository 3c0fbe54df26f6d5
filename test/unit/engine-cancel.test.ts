// A caller's AbortSignal (InferOptions.signal) on the engine's fakes: an aborted query rejects
// with PARM_ERR_ENGINE_CANCELLED once, its queued data and parity tasks leave the queues and never
// run, its neighbours are unaffected, and an already aborted signal is refused at admission.
import t from 'tap';
import { query, startFake, type Harness } from '../helpers/fake-engine-harness.js';
import { fakeModel, ok } from '../helpers/fake-instances.js';

/** Moves the simulated clock by `ms`, then lets promise callbacks run. */
async function step(h: Harness, ms: number): Promise<void> {
  h.clock.advance(h.clock.now() + ms);
  await new Promise((r) => setImmediate(r));
}

t.test('aborting a queued query drops its work from the queues; the others are answered', async (t) => {
  // One deployed instance, busy 50 ms per run: the second and third queries wait in the queue.
  const h = await startFake({ instances: 1, parityInstances: 1, mode: 'none' }, () => ok(50));
  const ac = new AbortController();
  h.send(query(1));
  h.send(query(2), { signal: ac.signal });
  h.send(query(3));
  await step(h, 10);
  t.equal(h.engine.metrics().queueDepth.deployed, 2, 'two tasks wait behind the running one');
  ac.abort();
  t.equal(h.engine.metrics().queueDepth.deployed, 1, 'the cancelled query left the queue at once');
  await h.run();
  const [a, b, c] = h.outcomes;
  t.ok(a?.ok && c?.ok, 'the neighbours are answered');
  if (c?.ok) t.same(Array.from(c.r.output), Array.from(fakeModel(query(3))));
  t.ok(b && !b.ok, 'the cancelled query rejects');
  if (b && !b.ok) {
    t.equal(b.e.code, 'PARM_ERR_ENGINE_CANCELLED');
    t.equal(b.at, 10, 'when the signal fired, not when an instance got to it');
  }
  t.same(h.settledCount, [1, 1, 1], 'each query settled exactly once');
  const ran = h.fleet.runs.map((r) => Array.from(r.input));
  t.notOk(ran.some((x) => x.join() === Array.from(query(2)).join()), 'its input never reached an instance');
  const m = h.engine.metrics();
  t.equal(m.errors, 0, 'a cancellation is not an engine error');
  t.equal(m.answered, 2);
  await h.close();
});

t.test('in parm mode a cancelled group drops its queued parity task too', async (t) => {
  // Every instance busy 50 ms: the second group's data and parity tasks queue behind the first.
  const h = await startFake({ instances: 2, parityInstances: 1 }, () => ok(50));
  const ac = new AbortController();
  h.send(query(1));
  h.send(query(2));
  h.send(query(3), { signal: ac.signal });
  h.send(query(4), { signal: ac.signal });
  await step(h, 10);
  const before = h.engine.metrics();
  t.equal(before.queueDepth.deployed, 2);
  t.equal(before.queueDepth.parity, 1, "the second group's parity task waits");
  ac.abort();
  const after = h.engine.metrics();
  t.same(after.queueDepth, { deployed: 0, parity: 0 }, 'data and parity work of the cancelled group are gone');
  t.equal(after.parityCancelled, 1);
  await h.run();
  t.same(
    h.outcomes.map((o) => (o?.ok ? 'ok' : o?.e.code)),
    ['ok', 'ok', 'PARM_ERR_ENGINE_CANCELLED', 'PARM_ERR_ENGINE_CANCELLED'],
  );
  t.same(h.settledCount, [1, 1, 1, 1]);
  await h.close();
});

t.test('with dynamic batching a query cancelled while it waits for its batch never runs', async (t) => {
  const h = await startFake({ instances: 1, mode: 'none', batching: { maxBatch: 8, maxDelayMs: 20 } }, () => ok(5));
  const ac = new AbortController();
  h.send(query(1), { signal: ac.signal });
  await step(h, 5);
  ac.abort();
  await step(h, 100);
  t.equal(h.fleet.runs.length, 0, 'the batch held only the cancelled query: nothing ran');
  t.equal(h.outcomes[0]?.ok, false);
  await h.close();
});

t.test('an answer removes the abort listener; aborting after it changes nothing', async (t) => {
  const h = await startFake({ instances: 1, mode: 'none' }, () => ok(1));
  const ac = new AbortController();
  let listeners = 0;
  const add = ac.signal.addEventListener.bind(ac.signal);
  const remove = ac.signal.removeEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
  ac.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (listeners--, remove(...a))) as typeof remove;
  h.send(query(1), { signal: ac.signal });
  await h.run();
  t.equal(listeners, 0, 'no listener left on the signal');
  ac.abort();
  t.ok(h.outcomes[0]?.ok);
  t.same(h.settledCount, [1]);
  await h.close();
});

t.test('an aborted signal is refused at admission; a non-signal is a bad option', async (t) => {
  const h = await startFake({ instances: 1, mode: 'none' });
  await t.rejects(h.engine.infer(query(1), { signal: AbortSignal.abort() }), { code: 'PARM_ERR_ENGINE_CANCELLED' });
  await t.rejects(h.engine.infer(query(1), { signal: {} as AbortSignal }), { code: 'PARM_ERR_ENGINE_INPUT', message: /options\.signal/ });
  t.equal(h.engine.metrics().queries, 0, 'neither was accepted');
  await h.close();
});

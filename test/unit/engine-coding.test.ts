// The engine's coding state machine on fakes (scripted instances, the TypeScript codec, a
// simulated clock): coding groups, decoding, deadlines, retries, hedging, partial groups, r = 2,
// batching, cancellation, and exactly one settlement per query.
import t from 'tap';
import { MODEL_FILE, startFake, query } from '../helpers/fake-engine-harness.js';
import { ParmEngine } from '../../src/engine/engine.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { fakeCodec } from '../helpers/fake-codec.js';
import { FakeFleet, fakeModel, ok, type Outcome } from '../helpers/fake-instances.js';

const slow = (ids: string[], ms: number) => (id: string): Outcome => (ids.includes(id) ? ok(ms) : ok(1));

t.test('coding groups: with nothing late every query gets its original', async (t) => {
  const h = await startFake();
  const xs = [0, 1, 2, 3].map(query);
  xs.forEach((x) => h.send(x));
  await h.run();
  for (const [i, o] of h.outcomes.entries()) {
    t.ok(o?.ok, `query ${i} answered`);
    if (!o?.ok) continue;
    t.equal(o.r.reconstructed, false);
    t.same(Array.from(o.r.output), Array.from(fakeModel(xs[i]!)));
  }
  const m = h.engine.metrics();
  t.same([m.groups, m.reconstructions, m.answered, m.errors], [2, 0, 4, 0]);
  t.same(h.settledCount, [1, 1, 1, 1]);
  await h.engine.close();
});

t.test('a late original is replaced by Fp(P) - F(other), and discarded when it comes', async (t) => {
  const h = await startFake({}, slow(['deployed-1'], 100));
  const xs = [query(1), query(2)];
  xs.forEach((x) => h.send(x));
  await h.run();
  const [a, b] = h.outcomes;
  t.ok(a?.ok && !a.r.reconstructed, 'the fast member: its original');
  t.ok(b?.ok && b.r.reconstructed, 'the slow member: reconstructed');
  if (b?.ok) {
    t.same(Array.from(b.r.output), Array.from(fakeModel(xs[1]!)), 'exact for a linear model');
    t.equal(b.r.instance, 'parity-0');
    t.equal(b.at, 1, 'answered when the parity output came, not at 100 ms');
  }
  await h.clock.runAsync();
  t.equal(h.engine.metrics().lateOriginalsDiscarded, 1, 'the original came at 100 ms and was discarded');
  t.equal(h.engine.metrics().reconstructions, 1);
  await h.engine.close();
});

t.test('deadline policy: waits for the original up to the deadline, then takes the reconstruction', async (t) => {
  const h = await startFake({}, slow(['deployed-1', 'deployed-3'], 100));
  h.send(query(1));
  h.send(query(2), { decode: { kind: 'deadline', waitMs: 50 } });
  await h.run();
  const b = h.outcomes[1];
  t.ok(b?.ok && b.r.reconstructed, 'reconstructed after the deadline');
  t.equal(b?.at, 50, 'at the deadline');
  const h2 = await startFake({}, slow(['deployed-1'], 100));
  h2.send(query(1));
  h2.send(query(2), { decode: { kind: 'deadline', waitMs: 200 } });
  await h2.run();
  const c = h2.outcomes[1];
  t.ok(c?.ok && !c.r.reconstructed, 'the original came before the deadline');
  t.equal(c?.at, 100);
  await Promise.all([h.engine.close(), h2.engine.close()]);
});

t.test('retries: a crashed instance\'s task is re-issued ahead of new work on another instance', async (t) => {
  const h = await startFake({ mode: 'none' }, (id, run) => (id === 'deployed-0' && run === 0 ? { kind: 'crash', ms: 5 } : ok(1)));
  h.send(query(1));
  h.send(query(2));
  await h.run();
  const a = h.outcomes[0];
  t.ok(a?.ok && !a.r.reconstructed);
  if (a?.ok) t.equal(a.r.instance, 'deployed-1');
  t.equal(a?.at, 6, 'crash at 5 ms, re-run on the free instance at once');
  const m = h.engine.metrics();
  t.same([m.retries, m.restarts, m.errors], [1, 1, 0]);
  await h.engine.close();
});

t.test('retries run out: the query is answered with the cause', async (t) => {
  const h = await startFake({ mode: 'none', instances: 1, maxRetries: 2 }, () => ({ kind: 'crash', ms: 1 }));
  h.send(query(1));
  await h.run();
  const a = h.outcomes[0];
  t.ok(a && !a.ok);
  if (a && !a.ok) {
    t.equal(a.e.code, 'PARM_ERR_ENGINE_INSTANCE');
    t.match(a.e.message, /instance deployed-0 exited with code 17; gave up after 2 retries/);
  }
  t.equal(h.fleet.runs.length, 3, 'the first run and two retries');
  await h.engine.close();
});

t.test('a model error and a wrong-sized output count as failures and are retried', async (t) => {
  const h = await startFake({ mode: 'none' }, (id, run) => (run === 0 ? { kind: id === 'deployed-0' ? 'error' : 'wrong-size', ms: 1 } : ok(1)));
  const xs = [query(1), query(2)];
  xs.forEach((x) => h.send(x));
  await h.run();
  h.outcomes.forEach((o, i) => {
    t.ok(o?.ok, `query ${i} answered`);
    if (o?.ok) t.same(Array.from(o.r.output), Array.from(fakeModel(xs[i]!)));
  });
  t.equal(h.engine.metrics().retries, 2);
  await h.engine.close();
});

t.test('hedged: a duplicate goes out after hedgeDelayMs and the first answer wins', async (t) => {
  const h = await startFake({ mode: 'hedged', hedgeDelayMs: 10 }, slow(['deployed-0'], 100));
  h.send(query(1));
  await h.run();
  const a = h.outcomes[0];
  t.ok(a?.ok && !a.r.reconstructed);
  if (a?.ok) t.not(a.r.instance, 'deployed-0', 'answered by the hedge');
  t.equal(a?.at, 11, 'hedged at 10 ms, answered 1 ms later');
  await h.clock.runAsync();
  const m = h.engine.metrics();
  t.same([m.hedges, m.lateOriginalsDiscarded], [1, 1]);
  t.equal(m.instances.filter((i) => i.role === 'deployed').length, 3, 'hedged runs parm\'s instance count, all deployed');
  await h.engine.close();
});

t.test('partial groups: replicate pads with the member itself; unprotected sends no parity', async (t) => {
  const h = await startFake({ groupWaitMs: 5 }, slow(['deployed-0'], 100));
  const x = query(3);
  h.send(x);
  await h.run();
  const a = h.outcomes[0];
  t.ok(a?.ok && a.r.reconstructed, 'decoded from Fp(x + x) with the effective coefficient 2');
  if (a?.ok) t.same(Array.from(a.r.output), Array.from(fakeModel(x)));
  t.equal(a?.at, 6, 'the window closed at 5 ms, the parity output came at 6 ms');
  t.same([h.engine.metrics().partialGroups, h.engine.metrics().groups], [1, 1]);

  const u = await startFake({ groupWaitMs: 5, partialGroup: 'unprotected' }, slow(['deployed-0'], 100));
  u.send(x);
  await u.run();
  const b = u.outcomes[0];
  t.ok(b?.ok && !b.r.reconstructed, 'waits for its original');
  t.equal(b?.at, 100);
  const m = u.engine.metrics();
  t.same([m.partialGroups, m.groups, m.unprotected], [1, 0, 1]);
  t.notOk(u.fleet.runs.some((r) => r.id.startsWith('parity')), 'no parity task ran');
  await Promise.all([h.engine.close(), u.engine.close()]);
});

t.test('r = 2: two missing members of a group are both reconstructed', async (t) => {
  const h = await startFake(
    { parityModels: [{ path: MODEL_FILE, coefficients: [1, 1] }, { path: MODEL_FILE, coefficients: [1, 2] }] },
    slow(['deployed-0', 'deployed-1'], 100),
  );
  const xs = [query(4), query(5)];
  xs.forEach((x) => h.send(x));
  await h.run();
  h.outcomes.forEach((o, i) => {
    t.ok(o?.ok && o.r.reconstructed, `member ${i} reconstructed`);
    if (o?.ok) {
      const want = fakeModel(xs[i]!);
      t.ok(Array.from(o.r.output).every((v, j) => Math.abs(v - want[j]!) < 1e-3), `member ${i} = F(x${i})`);
      t.equal(o.r.instance, 'parity-0+parity-1');
    }
  });
  await h.engine.close();
});

t.test('batching: parity over batches, group i = sample i of each batch', async (t) => {
  const h = await startFake({ batching: { maxBatch: 2, maxDelayMs: 5 } }, slow(['deployed-0'], 100));
  const xs = [0, 1, 2, 3].map((i) => query(10 + i));
  xs.forEach((x) => h.send(x));
  await h.run();
  t.same(h.outcomes.map((o) => o?.ok && o.r.reconstructed), [true, true, false, false], 'batch A = [x0, x1] was on the slow instance');
  h.outcomes.forEach((o, i) => {
    if (o?.ok) t.same(Array.from(o.r.output), Array.from(fakeModel(xs[i]!)), `query ${i}`);
  });
  const runs = h.fleet.runs;
  t.same(runs.filter((r) => r.id.startsWith('deployed')).map((r) => r.batch), [2, 2]);
  const parity = runs.filter((r) => r.id.startsWith('parity'));
  t.same(parity.map((r) => r.batch), [2], 'one parity task for the two groups');
  const p = Array.from(parity[0]!.input);
  const sum = (a: Float32Array, b: Float32Array) => Array.from(a).map((v, i) => v + b[i]!);
  t.same(p, [...sum(xs[0]!, xs[2]!), ...sum(xs[1]!, xs[3]!)], 'parity batch = [x0 + x2, x1 + x3]');
  t.equal(h.codec.calls.encodeSum, 1, 'one element-wise sum over the whole batches');
  await h.engine.close();
});

t.test('a reconstruction cancels its still-queued original; answered groups cancel queued parity', async (t) => {
  const h = await startFake({ instances: 1 }, slow(['deployed-0'], 10));
  h.send(query(1));
  h.send(query(2));
  await h.run();
  t.ok(h.outcomes[1]?.ok && h.outcomes[1].r.reconstructed, 'q1 decoded when q0\'s original came');
  t.equal(h.fleet.runs.filter((r) => r.id === 'deployed-0').length, 1, 'q1\'s original never ran');
  t.equal(h.engine.metrics().cancellations, 1);

  const p = await startFake({}, slow(['parity-0'], 100));
  [1, 2, 3, 4].forEach((i) => p.send(query(i)));
  await p.run();
  t.equal(p.fleet.runs.filter((r) => r.id === 'parity-0').length, 1, 'the second group\'s parity never ran');
  t.equal(p.engine.metrics().parityCancelled, 1);
  await Promise.all([h.engine.close(), p.engine.close()]);
});

t.test('round-robin balancing: each instance its own queue, in turn', async (t) => {
  const h = await startFake({ mode: 'none', balancing: 'round-robin' }, () => ok(5));
  [1, 2, 3, 4].forEach((i) => h.send(query(i)));
  await h.run();
  t.same(h.fleet.runs.map((r) => r.id), ['deployed-0', 'deployed-1', 'deployed-0', 'deployed-1']);
  await h.engine.close();
});

t.test('a hung instance is detected by its silence and its work recovered', async (t) => {
  const h = await startFake({ mode: 'none', hangTimeoutMs: 100, heartbeatMs: 10 }, (id, run) => (id === 'deployed-0' && run === 0 ? { kind: 'hang', ms: 0 } : ok(1)));
  h.send(query(1));
  await h.run();
  const a = h.outcomes[0];
  t.ok(a?.ok, 'answered after the hang was detected');
  if (a?.ok) t.equal(a.r.instance, 'deployed-1');
  t.ok(a!.at > 100 && a!.at <= 130, `answered at ${a!.at} ms: after hangTimeoutMs, within one alive check`);
  t.equal(h.engine.metrics().restarts, 1);
  await h.engine.close();
});

t.test('admission: overload, timeout, close, and a deployment that cannot start', async (t) => {
  const h = await startFake({ mode: 'none', instances: 1, maxPending: 2, closeTimeoutMs: 50 }, () => ok(100));
  h.send(query(1));
  h.send(query(2), { timeoutMs: 30 });
  h.send(query(3));
  await h.clock.runAsync(0);
  const c = h.outcomes[2];
  t.ok(c && !c.ok && c.e.code === 'PARM_ERR_ENGINE_OVERLOADED', 'third query refused: 2 pending');
  t.equal(h.engine.metrics().rejected, 1);
  await h.clock.runAsync(40);
  const b = h.outcomes[1];
  t.ok(b && !b.ok && b.e.code === 'PARM_ERR_ENGINE_TIMEOUT', 'the second timed out at 30 ms');
  t.match(b && !b.ok ? b.e.message : '', /no answer within 30 ms/);
  h.send(query(4), { timeoutMs: 2 ** 31 });
  await h.clock.runAsync(0);
  const d = h.outcomes[3];
  t.ok(d && !d.ok && d.e.code === 'PARM_ERR_ENGINE_INPUT', 'a timeout beyond what a timer can hold is refused');
  // q0 runs until 100 ms; close() at 40 ms gives it closeTimeoutMs = 50 ms.
  const closing = h.engine.close();
  h.send(query(5));
  await h.clock.runUntil(() => h.outcomes[0] !== null);
  await closing;
  const a = h.outcomes[0];
  t.ok(a && !a.ok && a.e.code === 'PARM_ERR_ENGINE_CLOSED', 'still in flight when closeTimeoutMs ran out');
  const e = h.outcomes[4];
  t.ok(e && !e.ok && e.e.code === 'PARM_ERR_ENGINE_CLOSED', 'refused while closing');
  t.same(h.settledCount, [1, 1, 1, 1, 1]);
});

t.test('a deployment whose instance cannot load its model fails to start, naming it', async (t) => {
  const fleet = new FakeFleet();
  fleet.failStart.add('deployed-1');
  const clock = new VirtualClock();
  const e = new ParmEngine({ name: 'f', deployedModel: MODEL_FILE, mode: 'none' }, { clock, codec: fakeCodec(), instanceFactory: fleet.factory });
  let err: (Error & { code?: string }) | undefined;
  e.ready().catch((x: Error) => (err = x));
  await clock.runUntil(() => err !== undefined);
  t.equal(err?.code, 'PARM_ERR_ENGINE_MODEL');
  t.match(err?.message ?? '', /instance deployed-1 could not start: model failed to load/);
  t.ok(clock.now() < 1000, `failed within ${clock.now()} ms of engine time: no restart loop`);
  await e.close();
});


t.test('adaptive hang detection: suspected at 4x its worst run (>= 100 ms), replaced at 20x (>= 1 s)', async (t) => {
  const h = await startFake({ mode: 'none', instances: 1, heartbeatMs: 10 }, (id, run) => (run === 3 ? { kind: 'hang', ms: 0 } : ok(2)));
  for (let i = 0; i < 3; i++) {
    h.send(query(i));
    await h.run();
  }
  h.send(query(9));
  await h.clock.runUntil(() => false, 150);
  const inst = h.engine.metrics().instances[0]!;
  t.equal(inst.suspectedHung, true, 'suspected after 150 ms of a run whose predecessors took 2 ms');
  t.equal(inst.recentRunMs, 2);
  t.equal(h.engine.isReady(), false, 'not ready while its only deployed instance is suspected hung');
  await h.clock.runUntil(() => h.engine.metrics().restarts > 0, 2000);
  t.equal(h.engine.metrics().restarts, 1, 'declared hung and replaced');
  await h.run();
  const o = h.outcomes[3];
  t.ok(o?.ok, 'the query is answered by the replacement');
  t.ok(o!.at >= 1000 && o!.at < 1200, `answered at ${o!.at} ms: the 1 s floor, not a fixed 10 s`);
  t.equal(h.engine.isReady(), true);
  await h.close();
});

t.test('run times per role are measured from hand-over to result', async (t) => {
  const h = await startFake({}, (id) => (id.startsWith('parity') ? ok(7) : ok(3)));
  [1, 2, 3, 4].forEach((i) => h.send(query(i)));
  await h.run();
  await h.clock.runAsync();
  const rt = h.engine.metrics().runTime;
  t.equal(rt.deployed.count, 4);
  t.ok(rt.parity.count >= 1, 'parity tasks measured (a queued one may be cancelled)');
  t.ok(rt.deployed.quantiles.every((q) => Math.abs(q - 3) < 0.01), `deployed runs took 3 ms (${rt.deployed.quantiles.slice(0, 3)})`);
  t.ok(rt.parity.quantiles.every((q) => Math.abs(q - 7) < 0.01), 'parity runs took 7 ms');
  const sent = h.engine.metrics().runTimeSent;
  t.equal(sent.deployed.count + sent.parity.count, 0, 'no run until sent from instances that do not say when they sent');
  await h.close();
});

t.test('run times until sent leave out the result\'s wait for the engine\'s thread', async (t) => {
  // Deployed results wait 1 ms of their 3 after being sent; parity instances do not say when they sent.
  const h = await startFake({}, (id) => (id.startsWith('parity') ? ok(7) : { kind: 'result', ms: 3, waitMs: 1 }));
  [1, 2, 3, 4].forEach((i) => h.send(query(i)));
  await h.run();
  await h.clock.runAsync();
  const m = h.engine.metrics();
  t.equal(m.runTime.deployed.count, 4);
  t.equal(m.runTimeSent.deployed.count, 4, 'every deployed run also until sent');
  t.ok(m.runTimeSent.deployed.quantiles.every((q) => Math.abs(q - 2) < 0.01), `deployed runs until sent took 2 ms (${m.runTimeSent.deployed.quantiles.slice(0, 3)})`);
  t.ok(m.runTime.deployed.quantiles.every((q) => Math.abs(q - 3) < 0.01), 'as the engine saw them, 3 ms');
  t.equal(m.runTimeSent.parity.count, 0, 'parity runs did not say when they sent');
  t.ok(m.runTime.parity.count >= 1);
  const byIdle = m.runTimeSent.deployed.byIdle.reduce((s, c) => s + c.count, 0);
  t.equal(byIdle, 4, 'the idle classes hold every run until sent');
  await h.close();
});

t.test('deferred parity: runs only for groups with a member still open after the wait', async (t) => {
  // Originals take 2 ms; deployed-1 is slow on its 12th run. Adaptive wait: 3 x median 2 ms = 6 ms,
  // learnt over the first ten groups (before any run the wait is the 1 ms floor).
  const h = await startFake({ parityDeferMs: undefined }, (id, run) => (id.startsWith('parity') ? ok(1) : id === 'deployed-1' && run === 11 ? ok(100) : ok(2)));
  const group = async (i: number): Promise<void> => {
    h.send(query(2 * i));
    h.send(query(2 * i + 1));
    await h.run();
    await h.clock.runAsync(); // the deferral's timer too, for the counters
  };
  for (let i = 0; i < 10; i++) await group(i);
  const parityRuns = () => h.fleet.runs.filter((r) => r.id.startsWith('parity')).length;
  const before = { runs: parityRuns(), skipped: h.engine.metrics().paritySkipped };
  for (let i = 10; i < 14; i++) await group(i);
  t.equal(parityRuns() - before.runs, 1, 'one parity run in four groups: only the group with the slow member');
  t.equal(h.engine.metrics().paritySkipped - before.skipped, 3, 'the other three groups never ran parity');
  const recon = h.outcomes.slice(20, 28).filter((o) => o?.ok && o.r.reconstructed);
  t.equal(recon.length, 1, 'the slow member (the one on deployed-1 12th run) is reconstructed, no other');
  t.ok(recon[0]!.at >= 6 && recon[0]!.at < 10, `at the wait (6 ms) plus the parity run, not at 100 ms (${recon[0]!.at} ms)`);
  await h.close();
});

t.test('deferred parity: a member queued behind others is not late; one running past the wait is', async (t) => {
  // One deployed instance: of each pair the second waits for the first. Wait 2 ms. Pair 1: 1.5 ms
  // each, the second runs from 1.5 to 3 ms: not late at 2 ms (queued until 1.5), answered before
  // 3.5 ms, so no parity. Pair 2: the second straggles (100 ms): late at 2 ms into its run.
  const h = await startFake({ instances: 1, parityInstances: 1, parityDeferMs: 2 }, (id, run) => (id.startsWith('parity') ? ok(1) : run === 3 ? ok(100) : ok(1.5)));
  h.send(query(1));
  h.send(query(2));
  await h.run();
  await h.clock.runAsync();
  const parityRuns = () => h.fleet.runs.filter((r) => r.id.startsWith('parity')).length;
  t.equal(parityRuns(), 0, 'no parity for a member that only queued');
  t.equal(h.engine.metrics().paritySkipped, 1);
  t.notOk(h.outcomes[1]?.ok && h.outcomes[1].r.reconstructed, 'the queued member answered by its original');
  h.send(query(3));
  h.send(query(4));
  await h.run();
  t.equal(parityRuns(), 1, 'parity for the straggler');
  const slow = h.outcomes[3];
  t.ok(slow?.ok && slow.r.reconstructed, 'the straggler is reconstructed');
  t.ok(Math.abs(slow!.at - 4.5) < 0.01, `queued until 1.5 ms, late at 3.5 ms, parity 1 ms: 4.5 ms (${slow!.at})`);
  await h.close();
});

t.test('deferred parity starts at once when a member\'s instance fails', async (t) => {
  const h = await startFake({ parityDeferMs: 500, mode: 'parm' }, (id, run) => (id === 'deployed-1' && run === 0 ? { kind: 'crash', ms: 3 } : id.startsWith('parity') ? ok(1) : ok(2)));
  h.send(query(1));
  h.send(query(2));
  await h.run();
  const b = h.outcomes[1];
  t.ok(b?.ok && b.r.reconstructed, 'answered from parity started at the crash');
  t.equal(b?.at, 4, 'crash at 3 ms, parity run 1 ms: not the 500 ms wait');
  await h.close();
});

t.test('parity tasks waiting together run as one merged batch', async (t) => {
  // Six deployed instances, the odd ones slow: each of the first three groups has a slow member.
  // The one parity instance is busy 10 ms with the first group; the next two queue behind it (the
  // fourth group's members are all answered by then: its parity is dropped, not merged).
  const h = await startFake({ instances: 6, parityInstances: 1 }, (id) => (id.startsWith('parity') ? ok(10) : /[135]$/.test(id) ? ok(100) : ok(1)));
  for (let i = 0; i < 8; i++) h.send(query(30 + i));
  await h.run();
  const parity = h.fleet.runs.filter((r) => r.id.startsWith('parity'));
  t.same(parity.map((r) => r.batch), [1, 2], 'the first alone, then the two that queued meanwhile in one run');
  const recon = h.outcomes.filter((o) => o?.ok && o.r.reconstructed).length;
  t.equal(recon, 3, 'the three slow members reconstructed');
  t.equal(h.engine.metrics().parityCancelled, 1);
  for (const [i, o] of h.outcomes.entries()) if (o?.ok) t.same(Array.from(o.r.output), Array.from(fakeModel(query(30 + i))), `query ${i}`);
});

t.test('metrics() reports the faults in force: options.faults, then the last setFaults', async (t) => {
  const h = await startFake({ faults: [{ kind: 'hang', instance: 'parity-0' }] });
  t.same(h.engine.metrics().faults, [{ kind: 'hang', instance: 'parity-0' }], 'options.faults');
  h.engine.setFaults([{ kind: 'delay', instance: 1 as unknown as string, ms: 50 }]);
  const m = h.engine.metrics();
  t.same(m.faults, [{ kind: 'delay', instance: '1', ms: 50, probability: 1, distribution: 'fixed' }], 'setFaults replaced them, as validated');
  m.faults[0]!.instance = 'deployed-9';
  t.equal(h.engine.metrics().faults[0]!.instance, '1', 'a copy: changing it changes nothing in force');
  h.engine.setFaults([]);
  t.same(h.engine.metrics().faults, []);
  await h.close();
});

t.test('warm first: a light load stays on the instance that ran last; warmFirst false spreads it', async (t) => {
  for (const warmFirst of [true, false]) {
    const h = await startFake({ mode: 'none', instances: 3, warmFirst }, () => ok(1));
    for (let i = 0; i < 12; i++) {
      h.send(query(i));
      await h.run();
    }
    const used = new Set(h.fleet.runs.filter((r) => r.id.startsWith('deployed')).map((r) => r.id));
    t.equal(used.size, warmFirst ? 1 : 3, `warmFirst ${warmFirst}: ${[...used].join(', ')}`);
    await h.close();
  }
});

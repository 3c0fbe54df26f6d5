// The dashboard feed's snapshot assembly on fake engines and a fake clock: rates from counter
// deltas, windowed latency per deployment, faults shown on the instances they target, the
// mode shown, and the history ring.
import t from 'tap';
import { DashboardSampler } from '../../src/dashboard/snapshot.js';
import type { EngineMetrics, FaultSpec } from '../../src/engine/types.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/** A fake engine whose metrics() the test sets field by field. */
function scripted(name: string, patch: Partial<EngineMetrics>, mode?: 'parm' | 'none'): { engine: FakeEngine; m: EngineMetrics } {
  const engine = new FakeEngine({ name });
  const m: EngineMetrics = { ...engine.metrics(), ...patch };
  engine.metrics = () => structuredClone(m);
  if (mode) (engine as { options: object }).options = { ...engine.options, mode };
  return { engine, m };
}

function clock(start: number): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

t.test('rates are counter deltas per second since the previous snapshot (0 in the first)', async (t) => {
  const a = scripted('a', { answered: 100, reconstructions: 4, lateOriginalsDiscarded: 1, errors: 0 });
  const c = clock(1_000_000);
  const s = new DashboardSampler(new Map([['a', a.engine]]), {}, c.now);
  const first = s.sample().deployments[0]!;
  t.same(first.rates, { answered: 0, reconstructions: 0, lateOriginalsDiscarded: 0, errors: 0 });
  t.equal(first.totals.answered, 100);
  c.advance(2000);
  Object.assign(a.m, { answered: 300, reconstructions: 10, lateOriginalsDiscarded: 5, errors: 2 });
  const second = s.sample().deployments[0]!;
  t.same(second.rates, { answered: 100, reconstructions: 3, lateOriginalsDiscarded: 2, errors: 1 });
  t.same(second.totals, { queries: a.m.queries, answered: 300, reconstructions: 10, lateOriginalsDiscarded: 5, errors: 2, restarts: 0, rejected: 0 });
});

t.test('latency: each deployment its own window of recorded answers; unknown models ignored', async (t) => {
  const a = scripted('a', {});
  const b = scripted('b', {});
  const c = clock(5_000_000);
  const s = new DashboardSampler(new Map([['a', a.engine], ['b', b.engine]]), { windowSec: 5 }, c.now);
  for (let i = 1; i <= 1000; i++) s.record('a', i / 100); // 0.01 .. 10 ms
  s.record('b', 42);
  s.record('nope', 1);
  const snap = s.sample();
  const [da, db] = snap.deployments;
  t.equal(da!.latencyMs.count, 1000);
  t.ok(Math.abs(da!.latencyMs.p50 - 5) <= 0.01, `p50 ${da!.latencyMs.p50}`);
  t.ok(Math.abs(da!.latencyMs.p99 - 9.9) <= 0.01, `p99 ${da!.latencyMs.p99}`);
  t.ok(Math.abs(da!.latencyMs.p999 - 9.99) <= 0.01, `p99.9 ${da!.latencyMs.p999}`);
  t.equal(db!.latencyMs.count, 1);
  t.ok(Math.abs(db!.latencyMs.p50 - 42) <= 0.05);
  t.equal(snap.windowSec, 5);
  c.advance(5000);
  t.equal(s.sample().deployments[0]!.latencyMs.count, 0, 'out of the 5 s window five seconds later');
});

t.test('instances carry the faults that target them; the deployment lists them all', async (t) => {
  const faults: FaultSpec[] = [
    { kind: 'delay', instance: '*', ms: 20, probability: 1, distribution: 'fixed' },
    { kind: 'crash', instance: '1', afterQueries: 0 },
    { kind: 'hang', instance: 'parity-0' },
  ];
  const health = (id: string, role: 'deployed' | 'parity') => ({ id, role, state: 'ready' as const, restarts: 0, completedRuns: 0, inFlight: 0, suspectedHung: false, recentRunMs: 0.5 });
  const a = scripted('a', { faults, instances: [health('deployed-0', 'deployed'), health('deployed-1', 'deployed'), health('parity-0', 'parity')] });
  const d = new DashboardSampler(new Map([['a', a.engine]])).sample().deployments[0]!;
  t.same(d.faults, faults);
  t.same(d.instances.map((i) => i.faults.map((f) => f.kind)), [['delay'], ['delay', 'crash'], ['hang']], "'*' is every deployed instance, '1' is deployed-1");
  t.equal(d.instances[2]!.recentRunMs, 0.5, 'health fields kept');
  t.equal(d.mode, 'parm', 'parity instances and no explicit mode: parm');
  const none = scripted('n', {});
  t.equal(new DashboardSampler(new Map([['n', none.engine]])).sample().deployments[0]!.mode, 'none', 'no parity instances: none');
  const explicit = scripted('x', {}, 'parm');
  t.equal(new DashboardSampler(new Map([['x', explicit.engine]])).sample().deployments[0]!.mode, 'parm', 'an explicit mode wins');
});

t.test('history keeps the last historyLength points per deployment, oldest first; seq counts snapshots', async (t) => {
  const a = scripted('a', { answered: 0 });
  const c = clock(0);
  const s = new DashboardSampler(new Map([['a', a.engine]]), { historyLength: 3, controls: true }, c.now);
  for (let i = 1; i <= 5; i++) {
    c.advance(1000);
    a.m.answered += 10 * i;
    s.record('a', i);
    const snap = s.sample();
    t.equal(snap.seq, i);
    t.equal(snap.controls, true);
    t.equal(snap.history, undefined, 'history is not part of every snapshot');
  }
  const h = s.history()['a']!;
  t.same(h.map((p) => p.time), [3000, 4000, 5000]);
  t.same(h.map((p) => p.answered), [30, 40, 50]);
  t.ok(h[2]!.p999 >= 4.99 && h[2]!.p999 <= 5.01, 'the window (10 s) holds 1..5 ms; p99.9 is the 5 ms one');
  t.equal(s.latest()?.seq, 5);
  s.history()['a']!.length = 0;
  t.equal(s.history()['a']!.length, 3, 'history() hands out copies');
});

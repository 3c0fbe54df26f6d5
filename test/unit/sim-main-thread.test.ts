// The simulated main thread (src/sim/main-thread.ts): events handled in turn after their CPU,
// arrivals ahead of the results waiting with them, timers cleared while waiting that never run,
// and a simulated run with it where results reach the engine later than without it.
import t from 'tap';
import { CpuPool } from '../../src/sim/cpu-pool.js';
import { MainThread } from '../../src/sim/main-thread.js';
import { lognormal } from '../../src/sim/service-times.js';
import { simulate, type SimConfig } from '../../src/sim/simulate.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

const costs = { arrivalMs: 1, resultMs: 1, timerMs: 0.5 };

t.test('events wait for the thread in turn, each after its CPU', async (t) => {
  const clock = new VirtualClock();
  const main = new MainThread(clock, null, 1, costs);
  const at: Record<string, number> = {};
  main.submit(1, () => (at.a = clock.now()));
  main.submit(2, () => (at.b = clock.now()));
  clock.setTimeout(() => main.submit(1, () => (at.c = clock.now())), 0.5);
  clock.run();
  t.same(at, { a: 1, b: 3, c: 4 }, 'the second waits for the first, the third for both');
});

t.test('an arrival goes ahead of the results waiting with it', async (t) => {
  const clock = new VirtualClock();
  const main = new MainThread(clock, null, 1, costs);
  const order: string[] = [];
  main.submit(1, () => order.push('busy'));
  clock.setTimeout(() => main.submit(1, () => order.push('result')), 0.2);
  clock.setTimeout(() => main.submit(1, () => order.push('arrival'), true), 0.4);
  clock.run();
  t.same(order, ['busy', 'arrival', 'result']);
});

t.test('on shared cores its CPU is shared with the runs', async (t) => {
  const clock = new VirtualClock();
  const pool = new CpuPool(clock, 1);
  const main = new MainThread(clock, pool, 1, costs);
  pool.start(10, 1, () => {});
  let handled = NaN;
  main.submit(1, () => (handled = clock.now()));
  clock.run();
  t.equal(handled, 2, 'half a core while a run has the other half');
});

t.test("the engine's timers: handled on the thread, and a timer cleared while it waits does not run", async (t) => {
  const clock = new VirtualClock();
  const main = new MainThread(clock, null, 1, costs);
  const engineClock = main.engineClock(clock);
  const fired: string[] = [];
  main.submit(5, () => fired.push(`busy until ${clock.now()}`));
  const late = engineClock.setTimeout(() => fired.push('cleared'), 1);
  engineClock.setTimeout(() => fired.push(`kept at ${clock.now()}`), 2);
  clock.setTimeout(() => engineClock.clearTimeout(late), 3);
  clock.run();
  t.same(fired, ['busy until 5', 'kept at 5.5'], 'the first timer was due at 1 but cleared at 3, before the thread got to it');
});

t.test('a simulated run with the main thread: the engine sees results later, nothing is lost', async (t) => {
  const base: SimConfig = {
    mode: 'parm',
    k: 2,
    r: 1,
    instances: 4,
    rate: 1500,
    queries: 4000,
    seed: 5,
    service: { deployed: lognormal(0.4, 0.3), parity: lognormal(0.4, 0.3) },
    cpu: { cores: 2, parityNice: 10 },
    stragglers: {},
  };
  const without = await simulate(base);
  const withMain = await simulate({ ...base, mainThread: { arrivalMs: 0.1, resultMs: 0.1, timerMs: 0 } });
  t.equal(withMain.errors, 0);
  t.equal(withMain.queries, without.queries, 'every measured query answered');
  const p50 = (r: typeof without): number => r.run_time.deployed.quantiles[Math.floor(r.run_time.deployed.quantiles.length / 2)]!;
  t.ok(p50(withMain) > p50(without) + 0.05, `the engine's measured run time p50 ${p50(withMain).toFixed(3)} ms against ${p50(without).toFixed(3)} without the thread: results wait for it`);
  t.ok(withMain.engine_latency.all.p50 > without.engine_latency.all.p50, `engine latency p50 ${withMain.engine_latency.all.p50.toFixed(3)} against ${without.engine_latency.all.p50.toFixed(3)}`);
});

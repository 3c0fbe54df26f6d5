// Processor sharing of simulated cores (src/sim/cpu-pool.ts): finish times worked out by hand on
// tiny cases, weighted shares with the one-core cap, cancellation, and simulated instances on it.
import t, { type Test } from 'tap';
import { CpuPool, niceWeight } from '../../src/sim/cpu-pool.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { fixed } from '../../src/sim/service-times.js';
import { simulate, type SimConfig } from '../../src/sim/simulate.js';

/** Starts jobs of [workMs, weight, startAt] on `cores` cores; returns each one's finish time. */
function finishTimes(cores: number, jobs: [number, number, number][]): number[] {
  const clock = new VirtualClock();
  const pool = new CpuPool(clock, cores);
  const out = jobs.map(() => NaN);
  jobs.forEach(([work, weight, at], i) => clock.setTimeout(() => pool.start(work, weight, () => (out[i] = clock.now())), at));
  clock.run();
  return out;
}

const close = (t: Test, got: number[], want: number[], what: string): void => {
  t.ok(got.length === want.length && got.every((x, i) => Math.abs(x - want[i]!) < 1e-9), `${what}: ${got.map((x) => x.toFixed(4)).join(', ')} (want ${want.join(', ')})`);
};

t.test('equal shares', async (t) => {
  close(t, finishTimes(1, [[1, 1, 0], [1, 1, 0]]), [2, 2], 'two runs of 1 ms on one core finish at 2 ms');
  close(t, finishTimes(2, [[1, 1, 0], [1, 1, 0]]), [1, 1], 'on two cores each has its own');
  close(t, finishTimes(2, [[1, 1, 0], [1, 1, 0], [1, 1, 0]]), [1.5, 1.5, 1.5], 'three on two cores: 2/3 of a core each');
  // Alone for 0.5 ms (0.5 done), then half speed: the first needs 1 ms more, the second is then
  // half done and alone again.
  close(t, finishTimes(1, [[1, 1, 0], [1, 1, 0.5]]), [1.5, 2], 'a run that starts later');
  close(t, finishTimes(1, [[3, 1, 0], [1, 1, 0]]), [4, 2], 'a short run beside a long one');
  close(t, finishTimes(0.5, [[1, 1, 0]]), [2], 'half a core');
  close(t, finishTimes(1, [[0, 1, 0], [1, 1, 0]]), [0, 1], 'a run of no work');
});

t.test('weighted shares', async (t) => {
  t.ok(Math.abs(niceWeight(10) - 110) < 0.1 && niceWeight(0) === 1024, 'nice 10 weighs about 110 against 1024 (the kernel table)');
  // One core, weights 1024 and 110: rates 1024/1134 and 110/1134 until the first finishes.
  const r = 1024 / 1134;
  close(t, finishTimes(1, [[1, 1024, 0], [1, 110, 0]]), [1 / r, 2], 'the heavier run gets its weight\'s part');
  close(t, finishTimes(2, [[1, 1024, 0], [1, 110, 0]]), [1, 1], 'as many runs as cores: weights do not matter');
  // Two cores, one heavy and two light runs: the heavy one would get 2 x 1024/1244 > 1 core, so it
  // gets one and the light ones share the other (0.5 each) until it finishes at 1 ms; they are
  // then half done, with a core each.
  close(t, finishTimes(2, [[1, 1024, 0], [1, 110, 0], [1, 110, 0]]), [1, 1.5, 1.5], 'no run gets more than one core');
});

t.test('cancelling a run gives its share back', async (t) => {
  const clock = new VirtualClock();
  const pool = new CpuPool(clock, 1);
  let first = NaN;
  let cancelledRan = false;
  pool.start(1, 1, () => (first = clock.now()));
  const job = pool.start(1, 1, () => (cancelledRan = true));
  clock.setTimeout(() => pool.cancel(job), 0.5);
  clock.run();
  t.ok(Math.abs(first - 1.25) < 1e-9, `half speed for 0.5 ms, then alone: done at 1.25 ms (got ${first})`);
  t.notOk(cancelledRan, 'a cancelled run never finishes');
  t.equal(pool.running, 0);
  t.throws(() => new CpuPool(clock, 0), RangeError);
  t.throws(() => pool.start(1, 0, () => {}), RangeError);
});

t.test('simulated instances on shared cores', async (t) => {
  const base: SimConfig = {
    mode: 'equal-resources',
    k: 2,
    r: 1,
    instances: 4,
    rate: 1500,
    queries: 3000,
    seed: 5,
    service: { deployed: fixed(1), parity: fixed(1) },
    stragglers: {},
  };
  const own = await simulate(base);
  t.equal(own.p50, 1, 'a core each: every run takes its 1 ms of work');
  t.equal(own.cores_busy, null);
  const shared = await simulate({ ...base, cpu: { cores: 1, parityNice: 10 } });
  t.ok(shared.p50 > 1.2, `6 instances on one core at 1.5 cores of demand would not keep up; p50 ${shared.p50}`);
  const two = await simulate({ ...base, cpu: { cores: 2, parityNice: 10 } });
  t.ok(two.p50 > 1 && two.p50 < shared.p50, `two cores: slower than a core each (${two.p50}), faster than one`);
  t.ok(two.cores_busy! > 1.3 && two.cores_busy! < 1.6, `the cores did 1.5 cores of work (${two.cores_busy})`);
  t.ok(two.run_time.deployed.quantiles[13]! > 1, 'the engine measures the stretched run times');
  const loaded = await simulate({ ...base, cpu: { cores: 2, parityNice: 10, perQuery: fixed(0.3) } });
  t.ok(loaded.p50 > two.p50, `CPU per query outside the instances slows the runs (${loaded.p50} > ${two.p50})`);
  const again = await simulate({ ...base, cpu: { cores: 2, parityNice: 10, perQuery: fixed(0.3) } });
  t.same([again.p50, again.p99, again.p999], [loaded.p50, loaded.p99, loaded.p999], 'deterministic');
});

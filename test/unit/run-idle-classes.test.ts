// Run times by idle class: the engine measures how long an instance sat idle before each run and
// keeps its run times per class (RUN_IDLE_CLASSES_MS); a measured table's classes drive the
// simulated runs (empirical by_idle), and --validate reads them from a server's /metrics.
import t from 'tap';
import { RUN_IDLE_CLASSES_MS, RUN_TIME_BUCKETS_MS, RUN_TIME_QUANTILES, RunTimes, idleClass, runTimeBucket } from '../../src/engine/metrics.js';
import { MIN_CLASS_COUNT, empirical, fixed } from '../../src/sim/service-times.js';
import { simulate } from '../../src/sim/simulate.js';
import { parseScrape } from '../../src/sim/validate.js';

t.test('idle classes: each from the previous bound up to its own, the last unbounded', async (t) => {
  t.same(RUN_IDLE_CLASSES_MS, [0.2, 1, 5, Infinity]);
  t.same([0, 0.19, 0.2, 0.99, 1, 4.9, 5, 1e9, Infinity].map(idleClass), [0, 0, 1, 1, 2, 2, 3, 3, 3]);
  const r = new RunTimes();
  r.record('deployed', 0.5, 0.1);
  r.record('deployed', 2, 7);
  r.record('deployed', 3, Infinity);
  const s = r.summary();
  t.equal(s.deployed.count, 3);
  t.same(s.deployed.byIdle.map((c) => [c.idleBelowMs, c.count]), [[0.2, 1], [1, 0], [5, 0], [Infinity, 2]]);
  t.equal(s.deployed.byIdle[0]!.quantiles[RUN_TIME_QUANTILES.indexOf(0.5)], 0.5);
  t.equal(s.parity.byIdle.every((c) => c.count === 0), true);
});

t.test('the engine measures each run\'s idle time from its instance\'s last result', async (t) => {
  // One instance, runs of 1 ms; arrivals at 3 (3-4 ms after readiness), 4.1 (0.1 ms after the
  // first run ended), 6 (0.9 ms after), 13 (6 ms after) and 16 (2 ms after).
  const res = await simulate({
    mode: 'none',
    k: 2,
    r: 1,
    instances: 1,
    rate: 1,
    arrivals: Float64Array.from([3, 4.1, 6, 13, 16]),
    queries: 5,
    warmupQueries: 0,
    service: { deployed: fixed(1), parity: fixed(1) },
    stragglers: {},
    seed: 1,
  });
  const byIdle = res.run_time.deployed.by_idle!;
  t.same(byIdle.map((c) => [c.idle_below_ms, c.count]), [[0.2, 1], [1, 1], [5, 2], [null, 1]], 'one run per class, and the first one counts from readiness');
});

t.test('a measured table with idle classes draws each run from its class', async (t) => {
  const n = MIN_CLASS_COUNT;
  const table = {
    p: [0, 1],
    quantiles: [5, 5],
    by_idle: [
      { idle_below_ms: 0.2, p: [0, 1], quantiles: [1, 1], count: n },
      { idle_below_ms: 1, p: [0, 1], quantiles: [2, 2], count: n - 1 },
      { idle_below_ms: null, p: [0, 1], quantiles: [8, 8], count: n },
    ],
  };
  const e = empirical(table);
  t.same([e.sample(0.5, 0, 0), e.sample(0.5, 0, 0.5), e.sample(0.5, 0, 3), e.sample(0.5, 0), e.sample(0.5, 0, Infinity)], [1, 5, 8, 8, 8], 'by class; a class with too few runs draws from the whole table');
  t.equal(e.meanMs, 5, 'the mean is the whole table\'s');
  t.equal(empirical(table, 'x', { idleClasses: false }).sample(0.5, 0, 0), 5, 'idleClasses false: the whole table');
  t.throws(() => empirical({ ...table, by_idle: [table.by_idle[2]!, table.by_idle[0]!] }), /rising idle_below_ms/);
  t.throws(() => empirical({ ...table, by_idle: 'fast' as never }), /must be a list/);
});

t.test('the scrape reader takes the idle classes, recording absent ones with no runs', async (t) => {
  const lines: string[] = [];
  for (const p of RUN_TIME_QUANTILES) {
    lines.push(`parm_engine_run_time_ms{model="m",role="deployed",quantile="${p}"} ${1 + p}`);
    lines.push(`parm_engine_run_time_by_idle_ms{model="m",role="deployed",idle_below_ms="0.2",quantile="${p}"} ${0.5 + p}`);
    lines.push(`parm_engine_run_time_by_idle_ms{model="m",role="deployed",idle_below_ms="+Inf",quantile="${p}"} ${2 + p}`);
  }
  lines.push('parm_engine_runs_by_idle{model="m",role="deployed",idle_below_ms="0.2"} 120');
  lines.push('parm_engine_runs_by_idle{model="m",role="deployed",idle_below_ms="+Inf"} 80');
  const d = parseScrape(lines.join('\n'), 'm').deployed!;
  t.same(d.by_idle!.map((c) => [c.idle_below_ms, c.count, c.quantiles[0]]), [[0.2, 120, 0.5], [1, 0, 1], [5, 0, 1], [null, 80, 2]]);
  t.equal(parseScrape(lines.filter((l) => !l.includes('idle')).join('\n'), 'm').deployed!.by_idle, undefined, 'an older server: no classes');
});

t.test('the run-time histogram: each run in the first bound at or above it, per idle class, with the sum', async (t) => {
  t.equal(RUN_TIME_BUCKETS_MS.length, 129);
  t.same([RUN_TIME_BUCKETS_MS[0], RUN_TIME_BUCKETS_MS[40], RUN_TIME_BUCKETS_MS[48], RUN_TIME_BUCKETS_MS[128]], [0.03125, 1, 2, 2048], 'the powers of two are bounds');
  t.ok(RUN_TIME_BUCKETS_MS.every((b, i) => i === 0 || (b / RUN_TIME_BUCKETS_MS[i - 1]! > 1.08 && b / RUN_TIME_BUCKETS_MS[i - 1]! < 1.1)), 'each about 9 % above the last');
  t.same([0, 0.03125, 0.0313, 1, 1.0001, 2048, 2049].map(runTimeBucket), [0, 0, 1, 40, 41, 128, 129]);
  const r = new RunTimes();
  r.record('deployed', 1, 0.1);
  r.record('deployed', 1.05, 0.1);
  r.record('deployed', 5000, Infinity);
  const [first, , , last] = r.summary().deployed.byIdle;
  t.equal(first!.buckets.length, 130);
  t.equal(first!.buckets[40], 1, '1 ms in the bucket of bound 1');
  t.equal(first!.buckets[41], 1, '1.05 ms in the next');
  t.equal(first!.buckets.reduce((a, b) => a + b, 0), first!.count);
  t.equal(first!.sumMs, 2.05);
  t.equal(last!.buckets[129], 1, 'above every bound: the +Inf bucket');
});

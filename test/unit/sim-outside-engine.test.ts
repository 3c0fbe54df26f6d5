// The time outside the engine in the simulation's calibration: a real run's per-answer table
// (latency minus the engine's parm_latency_ms) split by each answer's engine latency
// (outsideTable, by_engine at ENGINE_CLASSES_MS), and the simulation drawing each answer's outside
// time from the class of the engine latency it simulated.
import t from 'tap';
import { ENGINE_CLASSES_MS, ENGINE_RANK_CLASSES, MIN_CLASS_COUNT, empirical, fixed } from '../../src/sim/service-times.js';
import { simulate } from '../../src/sim/simulate.js';
import { outsideTable } from '../../src/sim/validate.js';

t.test('a run is split by engine latency; a class with too few answers joins the one below', async (t) => {
  t.same(ENGINE_CLASSES_MS, [0.5, 1, 2, 5, 20, Infinity]);
  // 300 answers at 0.3 ms engine time, 2 ms outside; 100 at 3 ms, 6 ms outside; 10 at 30 ms, 1 ms outside.
  const engineMs = Float64Array.from({ length: 410 }, (_, i) => (i < 300 ? 0.3 : i < 400 ? 3 : 30));
  const outsideMs = Float64Array.from({ length: 410 }, (_, i) => (i < 300 ? 2 : i < 400 ? 6 : 1));
  const table = outsideTable({ outsideMs, engineMs })!;
  t.equal(table.count, 410);
  // 0.5-1 and 1-2 are empty: they join 0-0.5; 5-20 and 20+ (10 answers) join 2-5, which becomes unbounded.
  t.same(table.by_engine!.map((c) => [c.engine_below_ms, c.count]), [[2, 300], [null, 110]]);
  t.same([table.by_engine![0]!.quantiles[0], table.by_engine![0]!.quantiles.at(-1), table.by_engine![1]!.quantiles[0], table.by_engine![1]!.quantiles.at(-1)], [2, 2, 1, 6]);
  // A sparse lowest class joins the one above.
  const low = outsideTable({ outsideMs: Float64Array.from({ length: 110 }, (_, i) => i), engineMs: Float64Array.from({ length: 110 }, (_, i) => (i < 10 ? 0.1 : 1.5)) })!;
  t.same(low.by_engine!.map((c) => [c.engine_below_ms, c.count]), [[null, 110]]);
  t.equal(outsideTable(undefined), null, 'no answers with an engine time: no table');
  t.equal(outsideTable({ outsideMs: new Float64Array(1), engineMs: new Float64Array(1) }), null);
});

t.test("a table with engine classes draws from the class of the answer's engine latency", async (t) => {
  const n = MIN_CLASS_COUNT;
  const table = {
    p: [0, 1],
    quantiles: [4, 4],
    by_engine: [
      { engine_below_ms: 1, p: [0, 1], quantiles: [1, 1], count: n },
      { engine_below_ms: 5, p: [0, 1], quantiles: [9, 9], count: n - 1 },
      { engine_below_ms: null, p: [0, 1], quantiles: [2, 2], count: n },
    ],
  };
  const e = empirical(table, 'outside');
  t.same([e.sample(0.5, 0, 0.2), e.sample(0.5, 0, 3), e.sample(0.5, 0, 50), e.sample(0.5, 0)], [1, 4, 2, 4], 'by class; too few answers or no latency given: the whole table');
  t.match(e.describe, /by the engine's latency/);
  t.throws(() => empirical({ ...table, by_idle: [] }), /by_idle \(run times\) or by_engine/);
  t.throws(() => empirical({ ...table, by_engine: [table.by_engine[2]!, table.by_engine[0]!] }), /rising engine_below_ms/);
  t.throws(() => empirical({ ...table, by_engine: {} as never }), /must be a list/);
});

t.test('the simulation adds to each answer the outside time of its engine-latency class', async (t) => {
  // One instance, 0.8 ms runs, arrivals far apart: every answer's engine latency is 0.8 ms,
  // so every answer gets the < 1 ms class's 3 ms; a table without classes would add its 10 ms.
  const run = (frontend: ReturnType<typeof empirical>) =>
    simulate({
      mode: 'none',
      k: 2,
      r: 1,
      instances: 1,
      rate: 10,
      arrivals: Float64Array.from({ length: 20 }, (_, i) => 100 * (i + 1)),
      queries: 20,
      warmupQueries: 0,
      service: { deployed: fixed(0.8), parity: fixed(0.8) },
      frontend,
      stragglers: {},
      seed: 1,
    });
  const classes = [
    { engine_below_ms: 1, p: [0, 1], quantiles: [3, 3], count: MIN_CLASS_COUNT },
    { engine_below_ms: null, p: [0, 1], quantiles: [50, 50], count: MIN_CLASS_COUNT },
  ];
  const withClasses = await run(empirical({ p: [0, 1], quantiles: [10, 10], by_engine: classes }));
  const whole = await run(empirical({ p: [0, 1], quantiles: [10, 10] }));
  t.ok(Math.abs(withClasses.p50 - 3.8) < 0.01 && Math.abs(withClasses.p999 - 3.8) < 0.01, `engine 0.8 + outside 3 ms (p50 ${withClasses.p50}, p99.9 ${withClasses.p999})`);
  t.ok(Math.abs(whole.p50 - 10.8) < 0.01, `the whole table: engine 0.8 + 10 ms (p50 ${whole.p50})`);
});

t.test('a run is also split by the rank of each answer\'s engine latency; sparse bands join the one below', async (t) => {
  t.same(ENGINE_RANK_CLASSES, [0.5, 0.9, 0.98, 0.995, 0.999, 1]);
  // 1000 answers, engine latency i ms (shuffled), outside time 1 ms for the fastest half, 2 for the next 40 %, 9 for the slowest 10 %.
  const n = 1000;
  const engineMs = Float64Array.from({ length: n }, (_, i) => (i * 389) % n);
  const outsideMs = Float64Array.from(engineMs, (e) => (e < 500 ? 1 : e < 900 ? 2 : 9));
  const table = outsideTable({ outsideMs, engineMs })!;
  // 0.98-0.995 (15), 0.995-0.999 (4) and 0.999-1 (1) have too few: they join 0.9-0.98 (80), which becomes the last.
  t.same(table.by_engine_rank!.map((c) => [c.engine_rank_below, c.count]), [[0.5, 500], [0.9, 400], [1, 100]]);
  t.same(table.by_engine_rank!.map((c) => [c.quantiles[0], c.quantiles.at(-1)]), [[1, 1], [2, 2], [9, 9]]);
});

t.test('by rank: the simulated run\'s slowest answers get the outside time of the real run\'s slowest', async (t) => {
  const n = MIN_CLASS_COUNT;
  const table = {
    p: [0, 1],
    quantiles: [4, 4],
    by_engine_rank: [
      { engine_rank_below: 0.5, p: [0, 1], quantiles: [1, 1], count: n },
      { engine_rank_below: 1, p: [0, 1], quantiles: [20, 20], count: n },
    ],
  };
  const e = empirical(table, 'outside', { engineRanks: true });
  t.equal(e.byRank, true);
  t.same([e.sample(0.5, 0, 0.2), e.sample(0.5, 0, 0.7), e.sample(0.5, 0)], [1, 20, 4], 'by band; no rank: the whole table');
  t.equal(empirical(table, 'outside').byRank, undefined, 'ranks only when asked');
  t.throws(() => empirical({ p: [0, 1], quantiles: [1, 1] }, 'outside', { engineRanks: true }), /by_engine_rank .* missing/);
  t.throws(() => empirical({ ...table, by_engine_rank: [table.by_engine_rank[0]!] }, 'outside', { engineRanks: true }), /the last 1/);
  // 40 answers far apart on one instance: runs of 0.5, 1, 1.5, ... ms by a service time rising with each draw.
  let k = 0;
  const rising = { sample: () => 0.5 * ++k, meanMs: 10, describe: 'rising' };
  const r = await simulate({
    mode: 'none',
    k: 2,
    r: 1,
    instances: 1,
    rate: 10,
    arrivals: Float64Array.from({ length: 40 }, (_, i) => 100 * (i + 1)),
    queries: 40,
    warmupQueries: 0,
    service: { deployed: rising, parity: fixed(1) },
    frontend: e,
    stragglers: {},
    seed: 1,
  });
  // The faster half gets 1 ms, the slower half 20 ms: p50 (the 20th of 40) is the faster half's slowest, 10 + 1.
  t.ok(Math.abs(r.p50 - 11) < 0.05, `p50 ${r.p50}: the 20th engine latency (10 ms) + 1`);
  t.ok(Math.abs(r.p99 - 40) < 0.05, `p99 ${r.p99}: the slowest, 20 + 20`);
  t.ok(Math.abs(r.max - 40) < 0.05, `max ${r.max}: 20 + 20`);
});

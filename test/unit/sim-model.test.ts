// The simulator's models and study: service-time distributions, mode lists, the scrape reader of
// --validate, and simulated runs of the real engine (deterministic, nothing lost, tails cut).
import t from 'tap';
import { parseSimModes } from '../../src/sim/plan.js';
import { empirical, exponential, fixed, lognormal, parseServiceTime, quantileTable } from '../../src/sim/service-times.js';
import { parityRows, simulate, type SimConfig } from '../../src/sim/simulate.js';
import { parseScrape } from '../../src/sim/validate.js';

t.test('service-time models', async (t) => {
  t.equal(fixed(0.5).sample(0.3, 0.7), 0.5);
  t.ok(Math.abs(exponential(2).sample(1 - Math.exp(-1), 0) - 2) < 1e-12, 'inverse CDF of the exponential');
  t.ok(Math.abs(lognormal(0.4, 0.3).sample(1 - Math.exp(-0.5 * 0), 0.25) - 0.4) < 1e-12, 'the median at a zero normal draw');
  const e = empirical({ p: [0, 0.5, 0.99, 1], quantiles: [1, 2, 3, 10] });
  t.same([e.sample(0, 0), e.sample(0.25, 0), e.sample(0.5, 0), e.sample(0.995, 0), e.sample(1, 0)], [1, 1.5, 2, 6.5, 10]);
  t.ok(Math.abs(e.meanMs - (0.5 * 1.5 + 0.49 * 2.5 + 0.01 * 6.5)) < 1e-12);
  t.same(quantileTable([4, 1, 3, 2], 3).quantiles, [1, 2, 3, 4]);
  t.same(quantileTable([4, 1, 3, 2, 5], [0, 0.5, 0.875, 1]), { p: [0, 0.5, 0.875, 1], quantiles: [1, 3, 4.5, 5], count: 5 }, 'at given probabilities, linear between order statistics');
  t.same(parseServiceTime('lognormal:0.4,0.3').describe, 'lognormal:0.4,0.3');
  t.throws(() => parseServiceTime('gamma:1'), { code: 'PARM_ERR_CLI_USAGE' });
  t.throws(() => empirical({ quantiles: [2, 1] }), /non-decreasing/);
});

t.test('modes and parity rows', async (t) => {
  t.same(parseSimModes('none,parm:3,parm:4:r2,hedged'), [
    { mode: 'none', k: 2, r: 1 },
    { mode: 'parm', k: 3, r: 1 },
    { mode: 'parm', k: 4, r: 2 },
    { mode: 'hedged', k: 2, r: 1 },
  ]);
  t.throws(() => parseSimModes('hedged:2:r2'), /r 1..k, parm only/);
  t.throws(() => parseSimModes('fast'), /unknown mode/);
  t.same(parityRows(3, 2), [[1, 1, 1], [1, 2, 3]]);
});

t.test('the scrape reader takes run-time tables and the engine median of one model', async (t) => {
  const lines = ['# HELP x', 'parm_engine_latency_ms{model="m",kind="all",quantile="0.5"} 0.7', 'parm_engine_latency_ms{model="other",kind="all",quantile="0.5"} 9'];
  const { RUN_TIME_QUANTILES } = await import('../../src/engine/metrics.js');
  for (const p of RUN_TIME_QUANTILES) lines.push(`parm_engine_run_time_ms{model="m",role="deployed",quantile="${p}"} ${1 + p}`);
  const s = parseScrape(lines.join('\n'), 'm');
  t.equal(s.engineP50, 0.7);
  t.same(s.deployed?.quantiles.slice(0, 2), [1, 1.05]);
  t.equal(s.parity, null, 'no parity series: no table');
  t.same(s.engine, {}, 'an engine percentile set is kept only when whole');
  const full = parseScrape(
    [...lines, 'parm_engine_latency_ms{model="m",kind="all",quantile="0.99"} 5', 'parm_engine_latency_ms{model="m",kind="all",quantile="0.999"} 9', 'parm_engine_latency_ms{model="m",kind="reconstructed",quantile="0.99"} 4'].join('\n'),
    'm',
  );
  t.same(full.engine, { all: { p50: 0.7, p99: 5, p999: 9 } }, 'the engine percentiles of all answers');
  // HDR's p99.99 (a bucket's highest equivalent value) can lie above its exact maximum.
  const hdr = RUN_TIME_QUANTILES.map((p) => `parm_engine_run_time_ms{model="m",role="parity",quantile="${p}"} ${p === 1 ? 5 : p === 0.9999 ? 5.004 : 1 + p}`);
  const rising = parseScrape(hdr.join('\n'), 'm').parity!;
  t.same(rising.quantiles.slice(-2), [5.004, 5.004], 'the table is kept non-decreasing');
  t.doesNotThrow(() => empirical(rising), 'and samples');
});

const base: SimConfig = {
  mode: 'parm',
  k: 2,
  r: 1,
  instances: 6,
  rate: 2000,
  queries: 6000,
  seed: 3,
  service: { deployed: lognormal(0.4, 0.2), parity: lognormal(0.4, 0.2) },
  // One instance of the nine at a time (parm decodes around one missing member of a group).
  stragglers: { moving: { fraction: 0.12, periodMs: 100, duty: 0.5, delayMs: 30 } },
};

t.test('a simulated run is deterministic and parm cuts the tail of a moving disturbance', async (t) => {
  const a = await simulate(base);
  const b = await simulate(base);
  t.same([a.p50, a.p99, a.p999, a.reconstructed_fraction], [b.p50, b.p99, b.p999, b.reconstructed_fraction], 'same seed, same result');
  const er = await simulate({ ...base, mode: 'equal-resources' });
  t.equal(er.instances.deployed, 9, 'equal-resources gets parm\'s instance count');
  t.same(a.instances, { deployed: 6, parity: 3 });
  t.ok(er.p999 >= 30, `equal-resources carries the 30 ms disturbance at p99.9 (${er.p999.toFixed(2)})`);
  t.ok(a.p999 < er.p999 / 3, `parm's p99.9 ${a.p999.toFixed(2)} ms is a third of equal-resources' or less`);
  t.ok(a.reconstructed_fraction > 0 && a.errors === 0);
});

t.test('failures lose no query; slow instances and racks slow the baseline', async (t) => {
  const failing = await simulate({ ...base, mode: 'none', stragglers: { failures: { mtbfMs: 200, restartMs: 20 } } });
  t.equal(failing.errors, 0, 'crashed instances\' work is retried');
  t.equal(failing.queries, 6000 - 300, 'every measured query answered');
  const plain = await simulate({ ...base, mode: 'none', stragglers: {} });
  const slow = await simulate({ ...base, mode: 'none', stragglers: { slow: { fraction: 0.5, factor: 20 } } });
  t.ok(slow.p99 > 5 * plain.p99, `slow instances: p99 ${slow.p99.toFixed(2)} against ${plain.p99.toFixed(2)} ms`);
  const racks = await simulate({ ...base, mode: 'none', stragglers: { racks: { size: 3, count: 1, periodMs: 50, duty: 0.5, delayMs: 20 } } });
  t.ok(racks.p99 >= 20, `a slowed rack shows at p99 (${racks.p99.toFixed(2)} ms)`);
});

t.test('warmFirst false reaches the engine: the moving disturbance catches the spread fleet', async (t) => {
  const cfg: SimConfig = {
    ...base,
    mode: 'none',
    instances: 20,
    rate: 10_000,
    queries: 20_000,
    service: { deployed: fixed(0.4), parity: fixed(0.4) },
    stragglers: { moving: { fraction: 0.17, periodMs: 200, duty: 0.25, delayMs: 50 } },
  };
  const warm = await simulate(cfg);
  const spread = await simulate({ ...cfg, warmFirst: false });
  t.ok(spread.p999 > 40, `least recent first: delayed runs reach the p99.9 (${spread.p999} ms)`);
  t.ok(warm.p999 < spread.p999, `warm first dodges more of them (${warm.p999} < ${spread.p999} ms)`);
});

// `parm simulate --validate-from` (src/sim/validate.ts, validate-record.ts, calibrate.ts): a
// recorded validation in the first format is read with the values that run used, simulated again
// without running anything real, and written back in the current format; the fit of the work.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_BACKGROUND } from '../../src/bench/tail/options.js';
import { refit, resimulateRun, runTimeMismatch } from '../../src/sim/calibrate.js';
import { empirical, fixed, type QuantileTable } from '../../src/sim/service-times.js';
import { simulate } from '../../src/sim/simulate.js';
import { readValidateRecord, type Percentiles, type ValidateRecord } from '../../src/sim/validate-record.js';
import { formatValidateTable } from '../../src/sim/validate-table.js';
import { mainThreadPerQuery, parseScrape, revalidate } from '../../src/sim/validate.js';

const V1 = join(import.meta.dirname, '..', 'fixtures', 'sim-validate-v1');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'parm-validate-from-'));
t.test('the first format is read with what that run used', async (t) => {
  const { recorded, runs, version } = readValidateRecord(V1);
  t.equal(version, 1);
  t.same([recorded.instances, recorded.warmup_ms, recorded.duration_ms, recorded.parity_nice, recorded.cores], [4, 2000, 12_000, 10, null]);
  t.same(recorded.engine, { warm_first: false }, 'before warmFirst: the instance idle longest took the next task');
  t.same(recorded.background, { kind: 'delay', width: 1, periodMs: 200, duty: 0.25, intensity: 50, targets: 'all' });
  t.same(
    runs.map((r) => [r.mode, r.sim_mode, r.k, r.rate, r.seed, r.trial]),
    [
      ['equal-resources', 'equal-resources', 2, 200, 1, 0],
      ['parm k=2', 'parm', 2, 200, 1, 0],
    ],
  );
  t.equal(runs[0]!.service.parity, null);
  t.ok(runs[1]!.service.parity!.quantiles.length > 2);
});

t.test('re-simulation with a core per instance is the simulation of what the record ran', async (t) => {
  const out = tmp();
  const rows = await revalidate({ from: V1, out, json: false, model: { cores: null }, silent: true });
  const file = JSON.parse(readFileSync(join(V1, 'validate.json'), 'utf8')) as { calibration: { mode: string; rate: number; simulated: Percentiles; service: { deployed: QuantileTable; parity: QuantileTable | null; frontend_ms: number } }[] };
  for (const [i, c] of file.calibration.entries()) {
    // What the first format's validation simulated, spelled out.
    const parm = c.mode.startsWith('parm');
    const direct = await simulate({
      mode: parm ? 'parm' : 'equal-resources',
      k: 2,
      r: 1,
      instances: 4,
      rate: c.rate,
      queries: c.rate * 12,
      warmupQueries: c.rate * 2,
      service: { deployed: empirical(c.service.deployed), parity: empirical(c.service.parity ?? c.service.deployed) },
      frontend: fixed(c.service.frontend_ms),
      stragglers: { background: { ...DEFAULT_BACKGROUND, seed: 1 } },
      seed: 1,
      warmFirst: false,
    });
    t.same([rows[i]!.simulated.p50, rows[i]!.simulated.p99, rows[i]!.simulated.p999], [direct.p50, direct.p99, direct.p999], `${c.mode}: the same run`);
    // And near what the record's simulator gave (the engine's policies have moved on since).
    for (const q of ['p50', 'p99', 'p999'] as const) t.ok(Math.abs(rows[i]!.simulated[q] / c.simulated[q] - 1) < 0.1, `${c.mode} ${q}: ${rows[i]!.simulated[q]} near the recorded ${c.simulated[q]}`);
  }
  const written = JSON.parse(readFileSync(join(out, 'validate.json'), 'utf8')) as ValidateRecord;
  t.equal(written.version, 2);
  t.same(written.model, { cores: null, parity_nice: 10, run_cpu_fraction: 0.6, cpu_per_query: '0', fit_rounds: 0, idle_classes: true, replications: 1, frontend: 'whole', run_times: 'measured' });
  t.equal(written.calibration.length, 2);
  for (const c of written.calibration) {
    t.ok(Math.abs(c.error.p99 - (c.simulated.p99 - c.real.p99) / c.real.p99) < 1e-12, `${c.mode}: the error is (sim - real) / real`);
    t.equal(c.seed, 1);
  }
  t.ok(readFileSync(join(out, 'service-times-parm-k-2-200.json'), 'utf8').includes('"parity"'), 'and each run\'s service-time file');
  // What it wrote is the current format, which reads back to the same runs.
  const again = readValidateRecord(out);
  t.equal(again.version, 2);
  t.same(again.runs.map((r) => r.real), readValidateRecord(V1).runs.map((r) => r.real));
});

t.test('shared cores slow the simulated runs; the mismatch says by how much', async (t) => {
  const { recorded, runs } = readValidateRecord(V1);
  const run = runs[1]!;
  const own = await resimulateRun(recorded, run, { cores: null, parityNice: 10, runCpuFraction: 1, cpuPerQuery: 0, fitRounds: 0, idleClasses: true });
  const one = await resimulateRun(recorded, run, { cores: 1, parityNice: 10, runCpuFraction: 1, cpuPerQuery: 0.5, fitRounds: 0, idleClasses: true });
  t.ok(one.result.p50 > own.result.p50, `one shared core: p50 ${one.result.p50} > ${own.result.p50}`);
  t.ok(runTimeMismatch(run.service.deployed, one.result.run_time.deployed)! > runTimeMismatch(run.service.deployed, own.result.run_time.deployed)!, 'and its run times are further from the measured ones');
  // The fit lowers the work until the stretched run times come back towards the measured ones.
  const fitted = await resimulateRun(recorded, run, { cores: 1, parityNice: 10, runCpuFraction: 1, cpuPerQuery: 0.5, fitRounds: 3, idleClasses: true });
  t.ok(fitted.work.deployed.quantiles[10]! < run.service.deployed.quantiles[10]!, 'the fitted median work is below the measured median run time');
  t.ok(runTimeMismatch(run.service.deployed, fitted.result.run_time.deployed)! < runTimeMismatch(run.service.deployed, one.result.run_time.deployed)!, 'and the mismatch is smaller');
});

t.test('refit scales each quantile by measured / simulated and keeps the table rising', async (t) => {
  const work = { p: [0, 0.5, 1], quantiles: [1, 2, 4] };
  const measured = { p: [0, 0.5, 1], quantiles: [1, 2, 4] };
  const simulated = { p: [0, 0.5, 1], quantiles: [1, 4, 4] };
  t.same(refit(work, measured, simulated).quantiles, [1, 1, 4], 'half at the median, kept at or above the one below');
  t.same(refit(work, measured, { p: [0, 0.5, 1], quantiles: [1, 100, 4] }).quantiles, [1, 1, 4], 'one round moves a quantile at most 2x');
});

t.test('bad input', async (t) => {
  await t.rejects(revalidate({ from: V1, out: V1, json: false, model: {}, silent: true }), /would overwrite the record/);
  const empty = tmp();
  await t.rejects(revalidate({ from: empty, out: tmp(), json: false, model: {}, silent: true }), /no validate.json/);
  writeFileSync(join(empty, 'validate.json'), JSON.stringify({ calibration: [{ mode: 'parm k=2', rate: 200, real: { p50: 1 } }] }));
  t.throws(() => readValidateRecord(empty), /calibration\[0\]: needs real p50, p99 and p999/);
  writeFileSync(join(empty, 'validate.json'), JSON.stringify({ calibration: [{ mode: 'fast', rate: 200, real: { p50: 1, p99: 2, p999: 3 }, service: { deployed: { quantiles: [1, 2] }, frontend_ms: 0 } }] }));
  t.throws(() => readValidateRecord(empty), /unknown mode "fast"/);
  writeFileSync(join(empty, 'validate.json'), '{');
  t.throws(() => readValidateRecord(empty), { code: 'PARM_ERR_CLI_USAGE' });
});

t.test('runs per instance: read from the server in instance order, recorded, and counted the same way by the simulation', async (t) => {
  const scrape = [
    'parm_instance_runs_total{model="m",instance="deployed-1",role="deployed"} 7',
    'parm_instance_runs_total{model="m",instance="parity-0",role="parity"} 4',
    'parm_instance_runs_total{model="other",instance="deployed-0",role="deployed"} 99',
    'parm_instance_runs_total{model="m",instance="deployed-0",role="deployed"} 12',
  ].join('\n');
  t.same(parseScrape(scrape, 'm').instanceRuns, { deployed: [12, 7], parity: [4] });
  t.equal(parseScrape('parm_engine_latency_ms{model="m",kind="all",quantile="0.5"} 1', 'm').instanceRuns, null, 'an older server: none');

  const rows = await revalidate({ from: V1, out: tmp(), json: false, model: { cores: null }, silent: true });
  // 200 q/s for 12 s, warm-up included: every query runs once on a deployed instance.
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const [er, parm] = rows;
  t.equal(er!.simulated.instance_runs!.deployed.length, 6, 'equal-resources: 4 deployed + 2 replicas');
  t.equal(sum(er!.simulated.instance_runs!.deployed), 2400);
  t.same(er!.simulated.instance_runs!.parity, []);
  t.equal(sum(parm!.simulated.instance_runs!.deployed), 2400);
  t.equal(parm!.simulated.instance_runs!.parity.length, 2);
  // A group's parity query starts only once a member is late (src/engine/parity-start.ts).
  const parity = sum(parm!.simulated.instance_runs!.parity);
  t.ok(parity > 0 && parity < 1200, `parity runs for some of the 1200 groups: ${parity}`);
  t.equal(formatValidateTable(rows).includes('runs per deployed instance'), false, 'no real counts recorded: no spread table');

  const dir = tmp();
  const file = JSON.parse(readFileSync(join(V1, 'validate.json'), 'utf8')) as { calibration: { real: Record<string, unknown> }[] };
  file.calibration[0]!.real['instance_runs'] = { deployed: [1500, 900, 0, 0, 0, 0], parity: [] };
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.same(readValidateRecord(dir).runs[0]!.real.instance_runs, { deployed: [1500, 900, 0, 0, 0, 0], parity: [] });
  t.equal(readValidateRecord(dir).runs[0]!.service.engine_latency_measured, null, 'a record without the measured answers\' engine latency reads it as null');
  const table = formatValidateTable(await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null }, silent: true }));
  t.match(table, /\| equal-resources \| 200 \| 1500 900 0 0 0 0 \| [\d ]+ \| 63 % \|/, 'the real counts and the busiest instance\'s share beside the simulated');
  file.calibration[0]!.real['instance_runs'] = { deployed: [1, -2], parity: [] };
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /real.instance_runs: expected/);
});

t.test('replications: the median of several simulations, their range, the first one unchanged', async (t) => {
  const once = await revalidate({ from: V1, out: tmp(), json: false, model: { cores: null }, silent: true });
  const many = await revalidate({ from: V1, out: tmp(), json: false, model: { cores: null, replications: 5 }, silent: true });
  t.equal(once[0]!.simulated.replications, null, 'one simulation: no range');
  for (const [i, c] of many.entries()) {
    const r = c.simulated.replications!;
    t.equal(r.n, 5);
    for (const k of ['p50', 'p99', 'p999'] as const) {
      t.ok(r[k][0] <= c.simulated[k] && c.simulated[k] <= r[k][1], `${c.mode} ${k}: the median ${c.simulated[k]} lies in ${r[k]}`);
      t.ok(r[k][0] <= once[i]!.simulated[k] && once[i]!.simulated[k] <= r[k][1], `${c.mode} ${k}: the single simulation is one of them`);
    }
    t.ok(r.p50[1] > r.p50[0], `${c.mode}: other arrivals and draws move the p50 (${r.p50})`);
  }
});

t.test("the time outside the engine: drawn from the run's per-answer table, or its median to every answer", async (t) => {
  const dir = tmp();
  const file = JSON.parse(readFileSync(join(V1, 'validate.json'), 'utf8')) as { calibration: { service: Record<string, unknown> }[] };
  // Every answer 10 ms outside the engine, far from the recorded median.
  for (const c of file.calibration) {
    c.service['frontend'] = { p: [0, 0.5, 0.99, 0.999, 1], quantiles: [10, 10, 10, 10, 10], count: 1000 };
    c.service['outside_engine_correlation'] = 0.5;
  }
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  const { runs } = readValidateRecord(dir);
  t.same(runs[0]!.service.frontend, { p: [0, 0.5, 0.99, 0.999, 1], quantiles: [10, 10, 10, 10, 10], count: 1000 }, 'the table is read back');
  t.equal(runs[0]!.service.outside_engine_correlation, 0.5);
  const median = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null, frontend: 'median' }, silent: true });
  // Classes that add 1 ms to answers the engine gave in under 100 ms: every answer here; 'whole' ignores them.
  const classed = JSON.parse(JSON.stringify(file)) as typeof file;
  for (const c of classed.calibration) {
    c.service['frontend'] = { p: [0, 1], quantiles: [10, 10], count: 1000, by_engine: [{ engine_below_ms: 100, p: [0, 1], quantiles: [1, 1], count: 1000 }, { engine_below_ms: null, p: [0, 1], quantiles: [10, 10], count: 1000 }] };
  }
  const classedDir = tmp();
  writeFileSync(join(classedDir, 'validate.json'), JSON.stringify(classed));
  const byClass = await revalidate({ from: classedDir, out: tmp(), json: false, model: { cores: null, frontend: 'measured' }, silent: true });
  const whole = await revalidate({ from: classedDir, out: tmp(), json: false, model: { cores: null, frontend: 'whole' }, silent: true });
  const out = tmp();
  const measured = await revalidate({ from: dir, out, json: false, model: { cores: null }, silent: true });
  const plain = await revalidate({ from: V1, out: tmp(), json: false, model: { cores: null }, silent: true });
  for (const [i, c] of measured.entries()) {
    t.equal(median[i]!.simulated.p50, plain[i]!.simulated.p50, `${c.mode} @ ${c.rate}: 'median' adds frontend_ms, as a record without the table does`);
    const added = c.simulated.p50 - median[i]!.simulated.p50;
    // Percentiles are read from a histogram with three significant digits.
    t.ok(Math.abs(added - (10 - c.service.frontend_ms)) < 0.02, `${c.mode} @ ${c.rate}: the measured table adds its 10 ms instead of frontend_ms ${c.service.frontend_ms} (${added})`);
    t.ok(Math.abs(whole[i]!.simulated.p50 - byClass[i]!.simulated.p50 - 9) < 0.05, `${c.mode} @ ${c.rate}: by class 1 ms, 'whole' 10 ms (${byClass[i]!.simulated.p50} and ${whole[i]!.simulated.p50})`);
  }
  const written = JSON.parse(readFileSync(join(out, 'validate.json'), 'utf8')) as ValidateRecord;
  t.equal(written.model.frontend, 'whole', 'the default where a record has no rank classes');
  // Rank classes: the faster half of the answers 1 ms outside the engine, the slower half 10 ms.
  const ranked = JSON.parse(JSON.stringify(file)) as typeof file;
  for (const c of ranked.calibration) {
    c.service['frontend'] = {
      p: [0, 1],
      quantiles: [5, 5],
      count: 1000,
      by_engine_rank: [
        { engine_rank_below: 0.5, p: [0, 1], quantiles: [1, 1], count: 500 },
        { engine_rank_below: 1, p: [0, 1], quantiles: [10, 10], count: 500 },
      ],
    };
  }
  const rankedDir = tmp();
  writeFileSync(join(rankedDir, 'validate.json'), JSON.stringify(ranked));
  const rankedOut = tmp();
  const byDefault = await revalidate({ from: rankedDir, out: rankedOut, json: false, model: { cores: null }, silent: true });
  const byRanks = await revalidate({ from: rankedDir, out: tmp(), json: false, model: { cores: null, frontend: 'ranks' }, silent: true });
  const byWhole = await revalidate({ from: rankedDir, out: tmp(), json: false, model: { cores: null, frontend: 'whole' }, silent: true });
  t.equal((JSON.parse(readFileSync(join(rankedOut, 'validate.json'), 'utf8')) as ValidateRecord).model.frontend, 'ranks', 'the default where every run has rank classes');
  for (const [i, c] of byDefault.entries()) {
    t.same([c.simulated.p50, c.simulated.p99], [byRanks[i]!.simulated.p50, byRanks[i]!.simulated.p99], `${c.mode} @ ${c.rate}: the default draws by rank`);
    t.ok(c.simulated.p99 - byWhole[i]!.simulated.p99 > 3, `${c.mode} @ ${c.rate}: by rank the slowest answers are 10 ms outside the engine, with the whole table 5 (p99 ${c.simulated.p99} and ${byWhole[i]!.simulated.p99})`);
  }
  const serviceFile = readdirSync(out).find((f) => f.startsWith('service-times-'))!;
  t.match(formatValidateTable(measured), /\| mode \| q\/s \| outside the engine p50 \| p99 \| p99\.9 \| rank correlation with the engine latency \| engine p99, whole run \| measured answers \| sim \|\n.*\n\| equal-resources \| 200 \| 10\.00 \| 10\.00 \| 10\.00 \| 0\.50 \| [\d.-]+ \| - \| [\d.]+ \|/, 'the printed table shows the outside time and its correlation');
  t.same(JSON.parse(readFileSync(join(out, serviceFile), 'utf8')).frontend.quantiles, [10, 10, 10, 10, 10], "the run's service-time file carries the table (--service FILE --frontend FILE read it)");
  file.calibration[0]!.service['frontend'] = 3;
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /calibration\[0\]: needs service \{ deployed: \{ quantiles \}, parity, frontend_ms, frontend\? \}/);
});

t.test('a record with both run-time windows: the measured one by default, the whole life with --run-times process', async (t) => {
  const dir = tmp();
  const file = JSON.parse(readFileSync(join(V1, 'validate.json'), 'utf8')) as { calibration: { service: Record<string, unknown> }[] };
  t.equal(readValidateRecord(V1).runs[0]!.service.run_time_window, 'process', 'a record made before the histogram: the whole life');
  const slow = { quantiles: [5, 5, 5, 5, 5] };
  for (const c of file.calibration) {
    c.service['run_time_window'] = 'measured';
    c.service['process_run_time'] = { deployed: slow, parity: c.service['parity'] ? slow : null };
  }
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  const measured = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null }, silent: true });
  const whole = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null, runTimes: 'process' }, silent: true });
  measured.forEach((c, i) => {
    t.equal(c.simulated.run_time_window, 'measured');
    t.equal(whole[i]!.simulated.run_time_window, 'process');
    t.ok(whole[i]!.simulated.p50 > c.simulated.p50 + 2, `${c.mode} @ ${c.rate}: runs of 5 ms move the median (${c.simulated.p50.toFixed(3)} -> ${whole[i]!.simulated.p50.toFixed(3)})`);
  });
  t.match(formatValidateTable(measured), /run-time tables simulated with: the measured window\n/);
  t.match(formatValidateTable(whole), /run-time tables simulated with: the servers' whole life, warm-up included\n/);
  file.calibration[0]!.service['run_time_window'] = 'warm';
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /service.run_time_window: expected "measured" or "process"/);
  file.calibration[0]!.service['run_time_window'] = 'measured';
  file.calibration[0]!.service['process_run_time'] = { deployed: 1 };
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /service.process_run_time: expected/);
});

t.test('a record with runs until sent and main-thread CPU: read, simulated with --run-times sent and --main-thread measured', async (t) => {
  const dir = tmp();
  const file = JSON.parse(readFileSync(join(V1, 'validate.json'), 'utf8')) as { calibration: { real: Record<string, unknown>; service: Record<string, unknown> }[] };
  t.equal(readValidateRecord(V1).runs[0]!.service.sent, null, 'a record made before the histogram has none');
  t.equal(readValidateRecord(V1).runs[0]!.real.main_thread_cpu_ms_per_query, null);
  const slow = { quantiles: [5, 5, 5, 5, 5] };
  for (const c of file.calibration) {
    c.service['sent'] = { deployed: slow, parity: c.service['parity'] ? slow : null };
    c.real['main_thread_cpu_ms_per_query'] = 0.3;
  }
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  const read = readValidateRecord(dir).runs[0]!;
  t.same(read.service.sent!.deployed, slow);
  t.equal(read.real.main_thread_cpu_ms_per_query, 0.3);
  const plain = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null }, silent: true });
  const sent = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null, runTimes: 'sent' }, silent: true });
  const threaded = await revalidate({ from: dir, out: tmp(), json: false, model: { cores: null, mainThreadMs: 'measured' }, silent: true });
  plain.forEach((c, i) => {
    t.ok(sent[i]!.simulated.p50 > c.simulated.p50 + 2, `${c.mode} @ ${c.rate}: runs until sent of 5 ms move the median (${c.simulated.p50.toFixed(3)} -> ${sent[i]!.simulated.p50.toFixed(3)})`);
    t.ok(threaded[i]!.simulated.p50 > c.simulated.p50, `${c.mode} @ ${c.rate}: the measured main thread's 0.3 ms per query adds to the median (${c.simulated.p50.toFixed(3)} -> ${threaded[i]!.simulated.p50.toFixed(3)})`);
  });
  const out = tmp();
  await revalidate({ from: dir, out, json: false, model: { cores: null, runTimes: 'sent', mainThreadMs: 'measured' }, silent: true });
  const written = JSON.parse(readFileSync(join(out, 'validate.json'), 'utf8')) as ValidateRecord;
  t.equal(written.model.run_times, 'sent');
  t.equal(written.model.main_thread_ms, 'measured');
  t.same(written.calibration[0]!.service.sent!.deployed, slow, 'written back');
  file.calibration[0]!.real['main_thread_cpu_ms_per_query'] = null;
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  await t.rejects(revalidate({ from: dir, out: tmp(), json: false, model: { cores: null, mainThreadMs: 'measured' }, silent: true }), { code: 'PARM_ERR_CLI_USAGE', message: /--main-thread measured: the record of .* has no main-thread CPU/ });
  file.calibration[0]!.real['main_thread_cpu_ms_per_query'] = -1;
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /real.main_thread_cpu_ms_per_query: expected ms >= 0 or null/);
  file.calibration[0]!.real['main_thread_cpu_ms_per_query'] = 0.3;
  file.calibration[0]!.service['sent'] = { deployed: 2 };
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(file));
  t.throws(() => readValidateRecord(dir), /service.sent: expected/);
});

t.test('main-thread CPU per query: the readings apart over the queries offered between them', async (t) => {
  const at = (cpuMs: number | null, ms: number) => ({ cpuMs, at: ms });
  t.equal(mainThreadPerQuery({ read: () => null, before: at(100, 1000), after: at(700, 11_000) }, 200), 0.3, '600 ms over 10 s at 200 q/s');
  t.equal(mainThreadPerQuery({ read: () => null, before: at(null, 1000), after: at(700, 11_000) }, 200), null, 'a reading missing (off Linux)');
  t.equal(mainThreadPerQuery({ read: () => null, after: at(700, 11_000) }, 200), null, 'no reading before the window');
  t.equal(mainThreadPerQuery(undefined, 200), null);
});

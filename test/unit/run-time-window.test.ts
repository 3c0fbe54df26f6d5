// Run-time tables over a window: a server's /metrics scraped twice (its run-time histogram,
// parm_engine_run_ms), the difference read as quantiles, so that `parm simulate --validate`
// leaves a slow warm-up out of the tables it simulates with.
import t from 'tap';
import { Counters, Latencies, RUN_TIME_BUCKETS_MS, RunTimes, snapshot } from '../../src/engine/metrics.js';
import type { Engine } from '../../src/engine/types.js';
import { makeRng } from '../../src/bench/tail/rng.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { runTimeHistogramText } from '../../src/server/run-time-histogram.js';
import { quantileAt, runTables, VALIDATE_RUN_CPU_FRACTION, type SimModel } from '../../src/sim/calibrate.js';
import { bucketQuantile, bucketTable } from '../../src/sim/run-time-window.js';
import { empirical } from '../../src/sim/service-times.js';
import { parseScrape, runTimesOver } from '../../src/sim/validate.js';
import type { RecordedRun } from '../../src/sim/validate-record.js';

/** A server's /metrics text over one deployment `m` whose engine measured `runs`, and `sent` until the results were sent. */
async function scrape(runs: RunTimes, sent = new RunTimes()): Promise<string> {
  const metrics = snapshot(new Counters(), { deployed: 0, parity: 0 }, [], new Latencies().summary(), runs.summary(), sent.summary(), []);
  const engine = { metrics: () => metrics } as unknown as Engine;
  return new ServerMetrics(new Map([['m', engine]])).text();
}

/** Log-normal run times (ms) with the given median, seeded. */
function lognormal(n: number, medianMs: number, seed: number): number[] {
  const rng = makeRng(seed);
  return Array.from({ length: n }, () => medianMs * Math.exp(0.4 * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())));
}

const exact = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};

/** Cumulative counts of `xs` over RUN_TIME_BUCKETS_MS then +Inf. */
function cumulative(xs: number[]): number[] {
  const cum = new Array<number>(RUN_TIME_BUCKETS_MS.length + 1).fill(0);
  for (const x of xs) for (let i = 0; i < cum.length; i++) if (i === RUN_TIME_BUCKETS_MS.length || x <= RUN_TIME_BUCKETS_MS[i]!) cum[i]!++;
  return cum;
}

t.test('a quantile read from the histogram is within a bucket of the exact one', async (t) => {
  const xs = lognormal(20_000, 0.6, 3);
  const cum = cumulative(xs);
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  for (const p of [0.05, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999]) {
    const got = bucketQuantile(cum, p, min, max);
    t.ok(Math.abs(got / exact(xs, p) - 1) < 0.09, `p ${p}: ${got.toFixed(4)} against ${exact(xs, p).toFixed(4)}`);
  }
  t.equal(bucketQuantile(cum, 0, min, max), Math.max(min, bucketQuantile(cum, 0, 0, Infinity)), 'p = 0 is kept at or above the least run');
  t.equal(bucketQuantile(cum, 1, min, max), max, 'p = 1 is kept at the greatest run');
  t.ok(Number.isNaN(bucketQuantile(cum.map(() => 0), 0.5, 0, 1)), 'no runs: no quantile');
});

t.test('draws from the histogram table exceed a bound as often as the runs did, also in the tail', async (t) => {
  // Shaped as the deployed runs of a 200 q/s window were: a body near 0.5 ms, 1 % at 1.5-1.9 ms,
  // and 1.5 % from 2.5 to 6 ms (a result that waited for the server's main thread), so that the
  // server's p = 0.98 falls in the cluster and p = 0.99 beyond the gap.
  const rng = makeRng(11);
  const run = (): number => {
    const u = rng.next();
    if (u < 0.01) return 1.5 + 0.4 * rng.next();
    if (u < 0.025) return 2.5 * 2.4 ** rng.next();
    return 0.5 * Math.exp(0.25 * (rng.next() - 0.5));
  };
  const xs = Array.from({ length: 20_000 }, run);
  const table = bucketTable(cumulative(xs), Math.min(...xs), Math.max(...xs));
  t.equal(table.p[0], 0, 'from p = 0');
  t.equal(table.p[table.p.length - 1], 1, 'to p = 1');
  t.ok(table.p.every((p, i) => i === 0 || p > table.p[i - 1]!), 'p rises');
  t.ok(table.quantiles.every((q, i) => i === 0 || q >= table.quantiles[i - 1]!), 'values do not fall');
  const sample = empirical(table).sample;
  const draws = makeRng(12);
  const n = 200_000;
  const drawn = Array.from({ length: n }, () => sample(draws.next(), draws.next()));
  for (const bound of [0.6, 1.5, 2, 3, 5]) {
    const real = xs.filter((x) => x > bound).length / xs.length;
    const sim = drawn.filter((x) => x > bound).length / n;
    // A bucket is 9 % wide: a bound inside one moves the fraction by at most that bucket's share.
    t.ok(Math.abs(sim - real) <= 0.1 * real + 0.0005, `over ${bound} ms: drawn ${(100 * sim).toFixed(3)} %, runs ${(100 * real).toFixed(3)} %`);
  }
});

t.test('the window between two scrapes leaves out the runs before the first', async (t) => {
  const runs = new RunTimes();
  // A slow warm-up (median 2 ms, some right after another run), then the measured window (0.5 ms).
  const warm = lognormal(3000, 2, 1);
  warm.forEach((ms, i) => runs.record('deployed', ms, i % 2 ? 0.1 : 3));
  const before = parseScrape(await scrape(runs), 'm');
  const measured = lognormal(6000, 0.5, 2);
  measured.forEach((ms, i) => runs.record('deployed', ms, i % 3 ? 3 : 0.1));
  runs.record('parity', 0.7, 10);
  const after = parseScrape(await scrape(runs), 'm');
  t.ok(before.buckets && after.buckets, 'both scrapes carry the histogram');

  const w = runTimesOver(before, after);
  t.equal(w.run_time_window, 'measured');
  t.equal(w.deployed.count, 6000, "the window's runs alone");
  t.equal(w.process_run_time!.deployed, after.deployed, 'the whole-life table kept beside it');
  const at = (p: number): number => quantileAt(w.deployed, p);
  for (const p of [0.1, 0.5, 0.9, 0.99]) t.ok(Math.abs(at(p) / exact(measured, p) - 1) < 0.09, `window p ${p}: ${at(p).toFixed(3)} against ${exact(measured, p).toFixed(3)}`);
  const whole = after.deployed!;
  t.ok(whole.quantiles[whole.p!.indexOf(0.5)]! > 1.3 * at(0.5), 'the whole-life median is the warm-up-heavy one');
  const classes = w.deployed.by_idle!;
  t.same(
    classes.map((c) => [c.idle_below_ms, c.count]),
    [
      [0.2, 2000],
      [1, 0],
      [5, 4000],
      [null, 0],
    ],
    "each idle class counts the window's runs",
  );
  t.same(classes[1]!.quantiles, w.deployed.quantiles, 'a class without runs in the window draws from the whole window');
  t.equal(w.parity!.count, 1, 'a role whose runs all came after the first scrape: all of them');

  const early = new RunTimes();
  early.record('deployed', 1, 3);
  early.record('parity', 2, 3);
  const early0 = parseScrape(await scrape(early), 'm');
  early.record('deployed', 1, 3);
  const late = parseScrape(await scrape(early), 'm');
  const onlyDeployed = runTimesOver(early0, late);
  t.equal(onlyDeployed.run_time_window, 'measured');
  t.equal(onlyDeployed.deployed.count, 1, "the window's one deployed run");
  t.equal(onlyDeployed.parity, late.parity, 'no parity run in the window: the whole-life parity table');
  t.equal(runTimesOver(null, after).run_time_window, 'process', 'no first scrape: the whole-life tables');
  t.equal(runTimesOver(null, after).deployed, after.deployed);
  const old = parseScrape((await scrape(runs)).split('\n').filter((l) => !l.startsWith('parm_engine_run_ms')).join('\n'), 'm');
  t.equal(old.buckets?.deployed.size ?? 0, 0, 'a server without the histogram');
  t.equal(runTimesOver(before, old).run_time_window, 'process');
});

t.test('the run-until-sent window: read beside the run-time one, and only where both scrapes carry it', async (t) => {
  const runs = new RunTimes();
  const sent = new RunTimes();
  // Each run waited 0.2 ms for the main thread after it was sent.
  const record = (ms: number): void => {
    runs.record('deployed', ms, 3);
    sent.record('deployed', ms - 0.2, 3);
  };
  lognormal(2000, 2, 3).forEach(record);
  const before = parseScrape(await scrape(runs, sent), 'm');
  const measured = lognormal(4000, 0.8, 4);
  measured.forEach(record);
  runs.record('parity', 0.9, 3);
  const after = parseScrape(await scrape(runs, sent), 'm');
  t.ok(before.sentBuckets && after.sentBuckets, 'both scrapes carry the run-until-sent histogram');
  const w = runTimesOver(before, after);
  t.equal(w.sent!.deployed.count, 4000, "the window's runs alone");
  for (const p of [0.1, 0.5, 0.9]) {
    const want = exact(measured, p) - 0.2;
    t.ok(Math.abs(quantileAt(w.sent!.deployed, p) / want - 1) < 0.09, `until sent p ${p}: ${quantileAt(w.sent!.deployed, p).toFixed(3)} against ${want.toFixed(3)}`);
  }
  t.ok(quantileAt(w.sent!.deployed, 0.5) < quantileAt(w.deployed, 0.5), 'shorter than the runs the engine saw');
  t.equal(w.sent!.parity, w.parity, 'no parity run said when it sent: the run table stands in');
  const without = parseScrape((await scrape(runs, sent)).split('\n').filter((l) => !l.startsWith('parm_engine_run_sent_ms')).join('\n'), 'm');
  t.equal(without.sentBuckets, null, 'a server without the histogram');
  t.equal(runTimesOver(before, without).sent, null, 'then no run-until-sent tables');
  t.equal(runTimesOver(before, without).run_time_window, 'measured', 'the run tables are still the window');
  t.equal(runTimesOver(null, after).sent, null, 'nor without a first scrape');
  t.equal(parseScrape(await scrape(runs), 'm').sentBuckets, null, 'nor from an engine without runs that said when they sent');
});

t.test('--run-times process simulates with the whole-life tables of a record that has both, --run-times sent with the window until sent', async (t) => {
  const table = (m: number) => ({ p: [0, 1], quantiles: [m, m] });
  const run = { mode: 'parm k=2', rate: 400, service: { deployed: table(1), parity: null, run_time_window: 'measured', process_run_time: { deployed: table(2), parity: table(3) }, sent: { deployed: table(0.5), parity: table(0.6) } } } as unknown as RecordedRun;
  const model = (runTimes?: 'measured' | 'process' | 'sent'): SimModel => ({ cores: 2, parityNice: 10, runCpuFraction: VALIDATE_RUN_CPU_FRACTION, cpuPerQuery: 0, fitRounds: 0, idleClasses: true, ...(runTimes ? { runTimes } : {}) });
  t.same(runTables(run, model()), { deployed: table(1), parity: null, window: 'measured' });
  t.same(runTables(run, model('process')), { deployed: table(2), parity: table(3), window: 'process' });
  const older = { service: { deployed: table(4), parity: null } } as unknown as RecordedRun;
  t.same(runTables(older, model('measured')), { deployed: table(4), parity: null, window: 'process' }, 'a record made before the histogram has only the whole life');
  t.same(runTables(run, model('sent')), { deployed: table(0.5), parity: table(0.6), window: 'measured' }, '--run-times sent: the window until sent');
  t.throws(() => runTables({ ...run, service: { ...run.service, sent: null } }, model('sent')), { code: 'PARM_ERR_CLI_USAGE', message: /--run-times sent: the record of parm k=2 at 400 q\/s has no run-until-sent tables/ });
});

t.test('the histogram text: a label value escaped, nothing where no deployment has a run', async (t) => {
  const runs = new RunTimes();
  runs.record('deployed', 1, 3);
  const metrics = snapshot(new Counters(), { deployed: 0, parity: 0 }, [], new Latencies().summary(), runs.summary(), new RunTimes().summary(), []);
  const text = runTimeHistogramText([['a"b\\c', metrics]]);
  t.match(text, /^# HELP parm_engine_run_ms .*\n# TYPE parm_engine_run_ms histogram\n/);
  t.match(text, /\nparm_engine_run_ms_count\{model="a\\"b\\\\c",role="deployed",idle_below_ms="5"\} 1\n$/);
  t.equal(text.split('\n').filter((l) => l.startsWith('parm_engine_run_ms_bucket')).length, RUN_TIME_BUCKETS_MS.length + 1, 'every bound and +Inf');
  t.notMatch(text, /parm_engine_run_sent_ms/, 'no run-until-sent histogram where no run said when it sent');
  t.equal(runTimeHistogramText([['m', snapshot(new Counters(), { deployed: 0, parity: 0 }, [], new Latencies().summary(), new RunTimes().summary(), new RunTimes().summary(), [])]]), '');
  const sent = new RunTimes();
  sent.record('parity', 0.5, 0);
  const both = runTimeHistogramText([['m', snapshot(new Counters(), { deployed: 0, parity: 0 }, [], new Latencies().summary(), runs.summary(), sent.summary(), [])]]);
  t.match(both, /\n# HELP parm_engine_run_sent_ms .*\n# TYPE parm_engine_run_sent_ms histogram\n/, 'the run-until-sent histogram after the run-time one');
  t.match(both, /\nparm_engine_run_sent_ms_count\{model="m",role="parity",idle_below_ms="0.2"\} 1\n$/);
  t.notMatch(both, /parm_engine_run_sent_ms_count\{model="m",role="deployed"/, 'each histogram has its own runs');
});

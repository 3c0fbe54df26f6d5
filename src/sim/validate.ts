// `parm simulate --validate`: a short real `parm bench tail` here (equal-resources and parm k = 2
// on the bundled default deployment, the default background), the service times its servers
// measured over the measured window (parm_engine_run_ms scraped before it and at the stop,
// injected delays left out) and the time outside the engine,
// then the simulation of the same runs with them, side by side, and the error per percentile;
// `--validate-from` simulates such a record again.
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { ParmError } from '../errors.js';
import { defaultOptions, parseModes } from '../bench/tail/options.js';
import { machineInfo } from '../bench/tail/report.js';
import { runTailBenchmark, startParmTarget, type RunSpec } from '../bench/tail/run.js';
import { summarize } from '../bench/tail/stats.js';
import { DEFAULTS } from '../engine/options.js';
import { RUN_IDLE_CLASSES_MS, RUN_TIME_QUANTILES, idleClassLabel } from '../engine/metrics.js';
import { VALIDATE_RUN_CPU_FRACTION, modelRecord, resimulate, type SimModel } from './calibrate.js';
import { ENGINE_CLASSES_MS, ENGINE_RANK_CLASSES, MIN_CLASS_COUNT, quantileTable, type EngineClassTable, type EngineRankClassTable, type QuantileTable } from './service-times.js';
import { fractionAbove, percentileInterval } from './percentile-interval.js';
import { overTrials } from './over-trials.js';
import { rankCorrelation } from './rank-correlation.js';
import { addBucket, complete, emptyBuckets, windowTable, type RunTimeBuckets } from './run-time-window.js';
import { formatValidateTable } from './validate-table.js';
import {
  defaultFrontend,
  GOALS,
  modeOfLabel,
  readValidateRecord,
  writeValidateRecord,
  type Calibration,
  type EngineLatency,
  type InstanceRuns,
  type Percentiles,
  type RecordedBench,
  type RecordedRun,
  type ValidateRecord,
} from './validate-record.js';

/** What one server measured: run-time tables per role, the engine's own latency percentiles by kind of answer, and the runs per instance. */
interface Scraped {
  deployed: QuantileTable | null;
  parity: QuantileTable | null;
  engineP50: number | null;
  engine: EngineLatency;
  /** Null from a server without parm_instance_runs_total. */
  instanceRuns: InstanceRuns | null;
  /** The run-time histogram (parm_engine_run_ms); null from a server without it, or with buckets this version does not know. */
  buckets: RunTimeBuckets | null;
  /** The run-until-sent histogram (parm_engine_run_sent_ms), as `buckets`. */
  sentBuckets: RunTimeBuckets | null;
}

/** Reads parm_engine_run_time_ms, the run-time histograms, the engine's p50 and parm_instance_runs_total from a Prometheus text scrape. */
export function parseScrape(text: string, model: string): Scraped {
  const tables: Record<string, number[]> = {};
  let instanceRuns: InstanceRuns | null = null;
  let buckets: RunTimeBuckets | null = emptyBuckets();
  let sentBuckets: RunTimeBuckets | null = emptyBuckets();
  let sentSeen = false;
  let engineP50: number | null = null;
  const engine: EngineLatency = {};
  /** Per role, per idle class bound (its label): the run-time quantiles and the run count. */
  const byIdle: Record<string, Map<string, { q: number[]; count: number }>> = {};
  const classOf = (role: string, bound: string) => {
    const classes = (byIdle[role] ??= new Map());
    let c = classes.get(bound);
    if (!c) classes.set(bound, (c = { q: new Array<number>(RUN_TIME_QUANTILES.length).fill(NaN), count: 0 }));
    return c;
  };
  for (const line of text.split('\n')) {
    const m = /^(parm_engine_run_time_ms|parm_engine_run_ms_bucket|parm_engine_run_sent_ms_bucket|parm_engine_latency_ms|parm_engine_run_time_by_idle_ms|parm_engine_runs_by_idle|parm_instance_runs_total)\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (labels['model'] !== model) continue;
    const v = Number(m[3]);
    if (m[1] === 'parm_engine_run_ms_bucket') {
      if (buckets && !addBucket(buckets, labels, v)) buckets = null;
      continue;
    }
    if (m[1] === 'parm_engine_run_sent_ms_bucket') {
      sentSeen = true;
      if (sentBuckets && !addBucket(sentBuckets, labels, v)) sentBuckets = null;
      continue;
    }
    if (m[1] === 'parm_instance_runs_total') {
      // Instance ids are `deployed-N` and `parity-N` (src/engine/instance-pool.ts): N is the place.
      const id = /^(deployed|parity)-(\d+)$/.exec(labels['instance'] ?? '');
      if (id && Number.isFinite(v)) (instanceRuns ??= { deployed: [], parity: [] })[id[1] as 'deployed' | 'parity'][Number(id[2])] = v;
      continue;
    }
    if (m[1] === 'parm_engine_runs_by_idle') {
      classOf(labels['role']!, labels['idle_below_ms']!).count = v;
      continue;
    }
    if (m[1] === 'parm_engine_run_time_by_idle_ms') {
      const i = RUN_TIME_QUANTILES.indexOf(Number(labels['quantile']));
      if (i >= 0) classOf(labels['role']!, labels['idle_below_ms']!).q[i] = v;
      continue;
    }
    if (m[1] === 'parm_engine_latency_ms') {
      if (labels['kind'] === 'all' && labels['quantile'] === '0.5') engineP50 = v;
      const field = ({ '0.5': 'p50', '0.99': 'p99', '0.999': 'p999' } as const)[labels['quantile'] as '0.5' | '0.99' | '0.999'];
      const kind = labels['kind'];
      if (field && (kind === 'all' || kind === 'original' || kind === 'reconstructed')) (engine[kind] ??= { p50: NaN, p99: NaN, p999: NaN })[field] = v;
      continue;
    }
    const i = RUN_TIME_QUANTILES.indexOf(Number(labels['quantile']));
    if (i < 0) continue;
    (tables[labels['role']!] ??= new Array<number>(RUN_TIME_QUANTILES.length).fill(NaN))[i] = v;
  }
  // HDR reports a quantile as its bucket's highest equivalent value but the maximum exactly, so
  // the top quantiles can exceed the maximum by the histogram's precision: keep each table rising.
  const rising = (q: number[]): number[] => {
    for (let i = 1; i < q.length; i++) q[i] = Math.max(q[i]!, q[i - 1]!);
    return q;
  };
  const table = (role: string): QuantileTable | null => {
    const q = tables[role];
    if (!q || !q.every(Number.isFinite)) return null;
    rising(q);
    // The server leaves out classes with no runs: they are recorded with a count of 0 (drawn from the whole table).
    const found = byIdle[role];
    const classes = found
      ? RUN_IDLE_CLASSES_MS.map((bound) => {
          const c = found.get(idleClassLabel(bound));
          const ok = c !== undefined && c.q.every(Number.isFinite);
          return { idle_below_ms: bound === Infinity ? null : bound, p: [...RUN_TIME_QUANTILES], quantiles: ok ? rising(c.q) : [...q], count: ok ? c.count : 0 };
        })
      : [];
    return { p: [...RUN_TIME_QUANTILES], quantiles: q, ...(classes.length > 0 ? { by_idle: classes } : {}) };
  };
  for (const kind of Object.keys(engine) as (keyof EngineLatency)[]) {
    const e = engine[kind]!;
    if (!(Number.isFinite(e.p50) && Number.isFinite(e.p99) && Number.isFinite(e.p999))) delete engine[kind];
  }
  // An id missing from the scrape (none should be) counts as no runs rather than a hole in the list.
  if (instanceRuns) for (const role of ['deployed', 'parity'] as const) instanceRuns[role] = Array.from(instanceRuns[role], (x) => x ?? 0);
  return { deployed: table('deployed'), parity: table('parity'), engineP50, engine, instanceRuns,
    buckets: buckets && complete(buckets) ? buckets : null,
    // A server that writes no run-until-sent histogram (an older one, or remote instances only) gives none.
    sentBuckets: sentSeen && sentBuckets && complete(sentBuckets) ? sentBuckets : null,
  };
}

const key = (r: { label: string; rate: number; trial: number }): string => `${r.label}@${r.rate}#${r.trial}`;

/**
 * How long before the measured window the first scrape is taken, ms: a scrape costs the server a
 * few ms of CPU, which would delay the first measured answers; the load is steady by then.
 */
export const WINDOW_SCRAPE_LEAD_MS = 500;

/**
 * A run's run-time tables over the window between two scrapes, where both carry the run-time
 * histogram; else (an older server, or the first scrape failed) the whole-life tables. `sent`:
 * the run-until-sent tables over the same window, where both scrapes carry that histogram too.
 */
export function runTimesOver(before: Scraped | null, after: Scraped): Pick<RecordedRun['service'], 'deployed' | 'parity' | 'run_time_window' | 'process_run_time' | 'sent'> {
  const whole = { deployed: after.deployed!, parity: after.parity };
  const deployed = before?.buckets && after.buckets ? windowTable(before.buckets, after.buckets, 'deployed', whole.deployed) : null;
  if (!deployed) return { ...whole, run_time_window: 'process', process_run_time: null, sent: null };
  // A window in which no parity ran (none did in the whole life either, or only before it) keeps the whole life's parity table.
  const parity = whole.parity ? (windowTable(before!.buckets!, after.buckets!, 'parity', whole.parity) ?? whole.parity) : null;
  return { deployed, parity, run_time_window: 'measured', process_run_time: whole, sent: sentOver(before!, after, { deployed, parity }) };
}

/**
 * The run-until-sent tables over the window, null where a scrape lacks them or the window has no
 * deployed run in them; a run until sent is at most its run, so the window's run tables bound them
 * above (from 0 below) and stand in for parity where no parity run said when it sent.
 */
function sentOver(before: Scraped, after: Scraped, runs: { deployed: QuantileTable; parity: QuantileTable | null }): RecordedRun['service']['sent'] {
  if (!before.sentBuckets || !after.sentBuckets) return null;
  const bound = (t: QuantileTable): QuantileTable => ({ quantiles: [0, t.quantiles[t.quantiles.length - 1]!] });
  const deployed = windowTable(before.sentBuckets, after.sentBuckets, 'deployed', bound(runs.deployed));
  if (!deployed) return null;
  const parity = runs.parity ? (windowTable(before.sentBuckets, after.sentBuckets, 'parity', bound(runs.parity)) ?? runs.parity) : null;
  return { deployed, parity };
}

/** A run's 95 % percentile intervals and the fraction of its answers slower than slowMs, from its latencies. */
function precision(latencies: Float64Array | undefined, slowMs: number | null): Pick<RecordedRun['real'], 'ci95' | 'slow_ms' | 'slow_fraction'> {
  if (!latencies || latencies.length === 0) return { ci95: null, slow_ms: null, slow_fraction: null };
  const sorted = Float64Array.from(latencies).sort();
  return {
    ci95: { p50: percentileInterval(sorted, 0.5), p99: percentileInterval(sorted, 0.99), p999: percentileInterval(sorted, 0.999) },
    slow_ms: slowMs,
    slow_fraction: slowMs === null ? null : fractionAbove(sorted, slowMs),
  };
}

/** p50, p99 and p99.9 of the given latencies, as the benchmark computes a run's (stats.ts); null where there are none. */
function measuredPercentiles(ms: Float64Array | undefined): Percentiles | null {
  if (!ms || ms.length === 0) return null;
  const { p50, p99, p999 } = summarize(ms);
  return { p50, p99, p999 };
}

/** Probabilities of the recorded per-answer time outside the engine: every percent, and the tail a p99.9 is read from. */
export const OUTSIDE_QUANTILES: readonly number[] = [...Array.from({ length: 100 }, (_, i) => i / 100), 0.995, 0.998, 0.999, 0.9995, 0.9999, 1];

/**
 * A run's per-answer times outside the engine as a quantile table, with the same times split by
 * the engine's latency of each answer (by_engine at ENGINE_CLASSES_MS) and by that latency's rank
 * among the run's answers (by_engine_rank at ENGINE_RANK_CLASSES); in both, a class with fewer
 * than MIN_CLASS_COUNT answers is merged into the one below it, the lowest into the one above, so
 * that the slow answers of a short run keep a class of their own rather than the whole table.
 * Null where its answers carried no engine latency.
 */
export function outsideTable(pairs: { outsideMs: Float64Array; engineMs: Float64Array } | undefined): QuantileTable | null {
  if (!pairs || pairs.outsideMs.length < 2) return null;
  const { outsideMs, engineMs } = pairs;
  const n = outsideMs.length;
  const byMs = classify(ENGINE_CLASSES_MS, (i) => engineMs[i]!, n, outsideMs);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => engineMs[a]! - engineMs[b]!);
  const rank = new Float64Array(n);
  order.forEach((i, r) => (rank[i] = r / n));
  const byRank = classify(ENGINE_RANK_CLASSES, (i) => rank[i]!, n, outsideMs);
  const by_engine: EngineClassTable[] = byMs.map((c) => ({ engine_below_ms: c.below === Infinity ? null : c.below, ...quantileTable(c.times, OUTSIDE_QUANTILES) }));
  const by_engine_rank: EngineRankClassTable[] = byRank.map((c) => ({ engine_rank_below: c.below, ...quantileTable(c.times, OUTSIDE_QUANTILES) }));
  return { ...quantileTable(outsideMs, OUTSIDE_QUANTILES), by_engine, by_engine_rank };
}

/** The times of answers `0..n-1` in classes by `key` (each below its bound, the last takes the rest), sparse classes merged as outsideTable says. */
function classify(bounds: readonly number[], key: (i: number) => number, n: number, times: Float64Array): { below: number; times: number[] }[] {
  const classes: { below: number; times: number[] }[] = bounds.map((below) => ({ below, times: [] }));
  for (let i = 0; i < n; i++) {
    let c = 0;
    while (c < classes.length - 1 && key(i) >= classes[c]!.below) c++;
    classes[c]!.times.push(times[i]!);
  }
  for (let c = classes.length - 1; c > 0; c--) {
    if (classes[c]!.times.length >= MIN_CLASS_COUNT) continue;
    classes[c - 1]!.times.push(...classes[c]!.times);
    classes[c - 1]!.below = classes[c]!.below;
    classes.splice(c, 1);
  }
  if (classes.length > 1 && classes[0]!.times.length < MIN_CLASS_COUNT) {
    classes[1]!.times.push(...classes[0]!.times);
    classes.splice(0, 1);
  }
  return classes;
}

/** The model of a validation: the flags given, else this machine's cores (or the record's). */
export type ModelFlags = Partial<SimModel>;

function modelFor(flags: ModelFlags, recorded: RecordedBench, cores: number, runs: readonly RecordedRun[]): SimModel {
  return {
    cores: flags.cores !== undefined ? flags.cores : cores,
    parityNice: flags.parityNice ?? recorded.parity_nice,
    runCpuFraction: flags.runCpuFraction ?? VALIDATE_RUN_CPU_FRACTION,
    cpuPerQuery: flags.cpuPerQuery ?? 0,
    fitRounds: flags.fitRounds ?? 0,
    idleClasses: flags.idleClasses ?? true,
    replications: flags.replications ?? 1,
    frontend: flags.frontend ?? defaultFrontend(runs),
    runTimes: flags.runTimes ?? 'measured',
    ...(flags.mainThreadMs ? { mainThreadMs: flags.mainThreadMs } : {}),
  };
}

export async function runValidation(o: { rates: number[]; seconds: number; trials?: number; seed: number; out: string; json: boolean; model: ModelFlags }): Promise<Calibration[]> {
  const opts = {
    ...defaultOptions(false),
    modes: parseModes('equal-resources,parm:2'),
    rates: o.rates,
    // Trial t: seed + t for the arrivals and the background schedule, as the tail benchmark's trials.
    trials: o.trials ?? 1,
    // As the tail benchmark's default: a fresh server needs seconds of full load to reach its steady speed.
    warmupMs: defaultOptions(false).warmupMs,
    durationMs: defaultOptions(false).warmupMs + o.seconds * 1000,
    seed: o.seed,
    charts: false,
    outDir: join(o.out, 'validate-bench'),
  };
  const scraped = new Map<string, Scraped>();
  /** The scrape just before each run's measured window (null where it failed). */
  const before = new Map<string, Promise<Scraped | null>>();
  const bases = new Map<string, string>();
  const runs = new Map<string, RunSpec>();
  const mainThread = new Map<string, MainThreadReadings>();
  const machine = machineInfo();
  const recorded: RecordedBench = {
    date: new Date().toISOString(),
    machine,
    load_average: { start: loadavg(), end: [] },
    deployment: opts.deployment,
    instances: opts.instances,
    duration_ms: opts.durationMs,
    warmup_ms: opts.warmupMs,
    background: opts.background,
    parity_nice: DEFAULTS.parityNice,
    engine: { warm_first: (opts.engine as { warmFirst?: boolean }).warmFirst ?? true /* the servers' instances are local: warm first */ },
    cores: machine.cores,
  };
  process.stderr.write(`parm simulate --validate: real runs (${opts.modes.map((m) => m.label).join(', ')} at ${o.rates.join(', ')} q/s, ${o.seconds} s each${opts.trials > 1 ? `, ${opts.trials} trials` : ''})\n`);
  const outcome = await runTailBenchmark(opts, {
    startTarget: async (run, options, dir) => {
      const target = await startParmTarget(run, options, dir);
      const base = target.wsUrl.replace(/^ws/, 'http').replace(/\/v2\/.*$/, '');
      const k = key({ label: run.spec.label, rate: run.rate, trial: run.trial });
      runs.set(k, run);
      bases.set(k, base);
      const main: MainThreadReadings = { read: target.mainThreadCpuMs ?? ((): null => null) };
      mainThread.set(k, main);
      return {
        ...target,
        stop: async () => {
          main.after = { cpuMs: main.read(), at: performance.now() };
          try {
            const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
            scraped.set(k, parseScrape(await res.text(), options.deployment));
          } finally {
            await target.stop();
          }
        },
      };
    },
    onProgress: (run, p) => {
      const k = key({ label: run.spec.label, rate: run.rate, trial: run.trial });
      const base = bases.get(k);
      if (base === undefined || before.has(k) || p.elapsedMs < opts.warmupMs - WINDOW_SCRAPE_LEAD_MS) return;
      const main = mainThread.get(k);
      if (main) main.before = { cpuMs: main.read(), at: performance.now() };
      before.set(
        k,
        fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })
          .then(async (res) => parseScrape(await res.text(), opts.deployment))
          .catch(() => null),
      );
    },
    onRunEnd: (run, r) => process.stderr.write(`  real ${run.spec.label} @ ${run.rate} q/s: p50 ${r.p50_ms.toFixed(3)} p99 ${r.p99_ms.toFixed(2)} p99.9 ${r.p999_ms.toFixed(2)} ms\n`),
  });
  recorded.load_average!.end = loadavg();
  // Half the delay a disturbance adds: answers above it are the ones a disturbance caught.
  const slowMs = opts.background?.kind === 'delay' ? opts.background.intensity / 2 : null;
  const first = new Map<string, Scraped | null>();
  for (const [k, p] of before) first.set(k, await p);
  const real: RecordedRun[] = outcome.records.map((rec) => {
    const k = key(rec);
    const s = scraped.get(k);
    const pairs = outcome.outside.get(k);
    if (!s?.deployed || !runs.get(k)) throw new ParmError('PARM_ERR_CLI_USAGE', `--validate: the server of ${k} reported no run times (is it an older parm?)`);
    return {
      mode: rec.label,
      ...modeOfLabel(rec.label),
      rate: rec.rate,
      trial: rec.trial,
      seed: rec.seed,
      real: {
        p50: rec.p50_ms,
        p99: rec.p99_ms,
        p999: rec.p999_ms,
        reconstructed_fraction: rec.reconstructed_fraction,
        offered_rate: rec.offered_rate,
        server_cpu_ms_per_query: rec.server_cpu_ms_per_query,
        generator_cpu_pct: rec.generator_cpu_pct,
        steal_pct: rec.steal_pct ?? null,
        ...precision(outcome.latencies.get(k), slowMs),
        instance_runs: s.instanceRuns,
        main_thread_cpu_ms_per_query: mainThreadPerQuery(mainThread.get(k), rec.rate),
      },
      service: {
        ...runTimesOver(first.get(k) ?? null, s),
        frontend_ms: Math.max(0, rec.p50_ms - (s.engineP50 ?? rec.p50_ms)),
        frontend: outsideTable(pairs),
        outside_engine_correlation: pairs ? rankCorrelation(pairs.outsideMs, pairs.engineMs) : null,
        engine_p50: s.engineP50,
        engine_latency: s.engine,
        engine_latency_measured: measuredPercentiles(pairs?.engineMs),
      },
    };
  });
  return finish(recorded, real, modelFor(o.model, recorded, machine.cores, real), o.out, o.json);
}

/** A run's server main-thread CPU (ms) and when it was read (performance.now()), at the scrape before the window and at the stop. */
export interface MainThreadReadings {
  read: () => number | null;
  before?: { cpuMs: number | null; at: number };
  after?: { cpuMs: number | null; at: number };
}

/** Main-thread CPU per query over the window between two readings at `rate` queries/s; null where a reading is missing. */
export function mainThreadPerQuery(m: MainThreadReadings | undefined, rate: number): number | null {
  const b = m?.before;
  const a = m?.after;
  if (!b || !a || b.cpuMs === null || a.cpuMs === null || a.at <= b.at) return null;
  return (a.cpuMs - b.cpuMs) / ((rate * (a.at - b.at)) / 1000);
}

/** `--validate-from DIR`: the runs recorded in DIR/validate.json, simulated again; nothing real runs. */
export async function revalidate(o: { from: string; out: string; json: boolean; model: ModelFlags; silent?: boolean }): Promise<Calibration[]> {
  if (resolve(o.from) === resolve(o.out)) throw new ParmError('PARM_ERR_CLI_USAGE', `--validate-from ${o.from}: --out must be another directory (it would overwrite the record)`);
  const { recorded, runs, version } = readValidateRecord(o.from);
  const cores = recorded.cores ?? machineInfo().cores;
  const say = o.silent ? (): void => {} : (text: string): void => void process.stderr.write(text);
  say(
    `parm simulate --validate-from ${o.from}: ${runs.length} recorded runs${version === 1 ? ' (first format: seed 1, 4 instances, 2 s + 10 s per run)' : ''}` +
      `${recorded.cores === null && o.model.cores === undefined ? `; the record has no core count, this machine's (${cores}) is used` : ''}\n`,
  );
  return finish(recorded, runs, modelFor(o.model, recorded, cores, runs), o.out, o.json, o.silent);
}

async function finish(recorded: RecordedBench, runs: RecordedRun[], model: SimModel, out: string, json: boolean, silent = false): Promise<Calibration[]> {
  const calibration = await resimulate(recorded, runs, model, (c) =>
    silent ? undefined : process.stderr.write(`  simulated ${c.mode} @ ${c.rate} q/s: p50 ${c.simulated.p50.toFixed(3)} p99 ${c.simulated.p99.toFixed(2)} p99.9 ${c.simulated.p999.toFixed(2)} ms\n`),
  );
  const groups = overTrials(calibration);
  const record: ValidateRecord = { kind: 'parm-simulate-validate', version: 2, goals: GOALS, recorded, model: modelRecord(model), calibration, ...(groups.length > 0 ? { over_trials: groups } : {}) };
  const written = writeValidateRecord(out, record);
  if (!silent) process.stdout.write(json ? `${JSON.stringify(record, null, 2)}\n` : `${formatValidateTable(calibration)}\nwrote ${written.join(', ')}\n`);
  return calibration;
}

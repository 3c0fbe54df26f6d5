// The record of a `parm simulate --validate` run (validate.json): what the real benchmark ran and
// measured, per mode and load, so that `--validate-from` can simulate it again with another model
// without running the benchmark again; the simulated figures and errors beside it; reading it
// back (also the first format, which recorded less), and writing it; its table is
// src/sim/validate-table.ts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineInfo } from '../bench/tail/report.js';
import { DEFAULT_BACKGROUND, type BackgroundOptions } from '../bench/tail/options.js';
import type { Mode } from '../engine/types.js';
import { ParmError } from '../errors.js';
import type { OverTrials } from './over-trials.js';
import type { QuantileTable, ServiceTimeFile } from './service-times.js';

/**
 * How a validation adds the time outside the engine to each answer: `measured` draws it from the
 * run's per-answer table, from the class of the answer's engine latency (by_engine); `ranks` from
 * the class of that latency's rank among the run's answers (by_engine_rank: the simulated run's
 * slowest answers get what the real run's slowest had outside the engine); `whole` from that
 * table without its classes; `median` adds the run's median (frontend_ms) to every answer.
 * A record without the table adds the median.
 */
export type FrontendModel = 'measured' | 'ranks' | 'whole' | 'median';

/**
 * The default: `ranks` where every run of the record has the rank classes (by_engine_rank), else
 * `whole`. In the records v30-v37 the time outside the engine had a rank correlation of 0.28-0.60
 * with the engine's latency (a busy main thread slows an answer on both sides of the engine), which
 * `whole` leaves out and `ranks` keeps: 36 of their 48 runs within the goal with `ranks` against 21
 * with `whole` (docs/simulate.md, "The time outside the engine, by rank").
 */
export function defaultFrontend(runs: readonly RecordedRun[]): FrontendModel {
  return runs.length > 0 && runs.every((r) => (r.service.frontend?.by_engine_rank?.length ?? 0) > 0) ? 'ranks' : 'whole';
}

/** Calibration goals: relative error of the simulation per percentile (issue 17). */
export const GOALS = { p50: 0.15, p99: 0.15, p999: 0.25 };

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
}

/**
 * The engine's own latency percentiles (from infer() to its answer, without the transport), over
 * the whole run including the warm-up, by kind of answer: with the client's, they tell a tail made
 * inside the engine from one made outside it.
 */
export type EngineLatency = Partial<Record<'all' | 'original' | 'reconstructed', Percentiles>>;

/**
 * Runs each instance finished with a result over the whole run (warm-up included), per role, in
 * instance order (`deployed-0`, `deployed-1`, ...; `parity-0`, ...): how the scheduler spread the
 * work, which decides how many answers a disturbance of one instance catches.
 */
export interface InstanceRuns {
  deployed: number[];
  parity: number[];
}

/** How the real runs were set up: the same for every run of one validation. */
export interface RecordedBench {
  /** ISO time the real runs began; null in the first format. */
  date: string | null;
  machine: MachineInfo | null;
  /** Load average when the real runs began and ended (1, 5, 15 min); null if not recorded. */
  load_average: { start: number[]; end: number[] } | null;
  deployment: string;
  /** Deployed instances m (parm adds ceil(m / k) parity instances, equal-resources as many replicas). */
  instances: number;
  /** Load per run including the warm-up, and the warm-up, ms (as `parm bench tail` counts them). */
  duration_ms: number;
  warmup_ms: number;
  /** The background schedule (its seed is each run's). */
  background: BackgroundOptions | null;
  /** The server's parityNice (parity instance threads' nice value above the process's). */
  parity_nice: number;
  /**
   * The server's engine policies that the simulation must follow (the engine's defaults then):
   * `warm_first`, which free instance takes the next task.
   */
  engine: { warm_first: boolean };
  /** Cores of the machine the real runs ran on; null if not recorded. */
  cores: number | null;
}

/** One real run and what its server measured. */
export interface RecordedRun {
  /** `parm bench tail`'s label: `equal-resources`, `parm k=2`. */
  mode: string;
  sim_mode: Mode;
  k: number;
  rate: number;
  trial: number;
  /** Seed of the run's arrivals and background schedule. */
  seed: number;
  real: Percentiles & {
    /** Filled from the benchmark's record; null in the first format. */
    reconstructed_fraction: number | null;
    offered_rate: number | null;
    /** CPU of every server thread per offered query, ms; and the load generator's CPU, % of one core. */
    server_cpu_ms_per_query: number | null;
    generator_cpu_pct: number | null;
    /** CPU time the hypervisor stole during the run, % (absent in records made before it). */
    steal_pct?: number | null;
    /**
     * How precisely the run measured each percentile: its 95 % interval from order statistics of
     * the run's answers (percentile-interval.ts; independent answers assumed, so if anything too
     * narrow). Null where not recorded.
     */
    ci95?: Record<keyof Percentiles, [number, number]> | null;
    /** The fraction of answers slower than `slow_ms` (half the background's delay: the answers a disturbance caught). */
    slow_ms?: number | null;
    slow_fraction?: number | null;
    /** From the server's parm_instance_runs_total at the run's end; absent in records made before it. */
    instance_runs?: InstanceRuns | null;
    /**
     * CPU of the server's main thread (its event loop: sockets, engine, instance messages, timers)
     * per query over the measured window (from the scrape before it to the stop, over the queries
     * offered meanwhile), ms; what `--main-thread measured` charges. Null where it could not be
     * read (off Linux), absent in records made before it.
     */
    main_thread_cpu_ms_per_query?: number | null;
  };
  /**
   * Measured run times per role (parm_engine_run_time_ms: from handing a task to an instance to
   * its result, injected delays left out), and the time a query spent outside the engine at the
   * median (real p50 - the engine's own p50), ms; `frontend`: that time per answer (its latency
   * minus the engine's `parm_latency_ms`) as a quantile table, and `outside_engine_correlation`
   * its rank correlation with the engine's latency over the same answers, absent in records made
   * before them. engine_latency covers the whole run, warm-up included (a server's histograms
   * start with it); engine_latency_measured the measured answers alone. The run-time tables cover
   * the window `run_time_window` names.
   */
  service: {
    deployed: QuantileTable;
    parity: QuantileTable | null;
    frontend_ms: number;
    frontend?: QuantileTable | null;
    outside_engine_correlation?: number | null;
    engine_p50: number | null;
    engine_latency: EngineLatency | null;
    /** The engine's latency of the measured answers alone (each answer's `parm_latency_ms`, the warm-up left out); absent in records made before it. */
    engine_latency_measured?: Percentiles | null;
    /**
     * What `deployed` and `parity` cover: `measured`, the measured window (from half a second
     * before it to the stop, read from the run-time histogram parm_engine_run_ms scraped at both
     * ends), or `process`, the server's whole life, warm-up included (its quantile gauges; records
     * made before the histogram, absent there).
     */
    run_time_window?: 'measured' | 'process';
    /** With a `measured` window: the whole-life tables of the same run, for `--run-times process`. */
    process_run_time?: { deployed: QuantileTable; parity: QuantileTable | null } | null;
    /**
     * Over the measured window: the run times until each instance sent its result
     * (parm_engine_run_sent_ms), without the result's wait for the server's main thread that
     * `deployed` and `parity` include; for `--run-times sent`. Null from a server without the
     * histogram, absent in records made before it.
     */
    sent?: { deployed: QuantileTable; parity: QuantileTable | null } | null;
  };
}

/** The model a re-simulation used (docs/simulate.md: the shared-CPU model). */
export interface SimModelRecord {
  /** Cores the instances share; null: a core per instance. */
  cores: number | null;
  parity_nice: number;
  /** The part of a measured run time that needs a core. */
  run_cpu_fraction: number;
  /** CPU per query outside the instances, ms, on the same cores: a number, or how it was derived. */
  cpu_per_query: string;
  /** Rounds of fitting the service times so that the simulated run times match the measured ones. */
  fit_rounds: number;
  /** Whether each simulated run drew from its idle class's measured table (absent in records made before idle classes: false). */
  idle_classes?: boolean;
  /** Simulations per run whose median percentiles are compared (absent in earlier records: 1). */
  replications?: number;
  /** The time outside the engine added to each answer (SimModel.frontend; absent in earlier records). */
  frontend?: FrontendModel;
  /** The run-time tables asked for (SimModel.runTimes; each run's simulated.run_time_window says which it had; absent in earlier records). */
  run_times?: 'measured' | 'process' | 'sent';
  /** The main thread's CPU per query, ms, where it was simulated as one queue, or `measured`: each run's own (SimModel.mainThreadMs; absent: not simulated). */
  main_thread_ms?: number | 'measured';
}

export interface Calibration extends RecordedRun {
  simulated: Percentiles & {
    reconstructed_fraction: number;
    cores_busy: number | null;
    cpu_per_query_ms: number;
    /** The simulated engine's own percentiles, as EngineLatency (whole run, without the frontend time). */
    engine_latency: EngineLatency;
    /**
     * How far the run times the simulated engine measured are from the real ones: the largest
     * relative difference at p = 0.1 ... 0.9, per role (null: no such runs). A model that stretches
     * runs more than the real machine did shows it here.
     */
    run_time_mismatch: { deployed: number | null; parity: number | null };
    /** The window of the run-time tables this simulation drew from (RecordedRun.service.run_time_window, or `process` under --run-times process). */
    run_time_window?: 'measured' | 'process';
    /** The fraction of simulated answers slower than the real run's slow_ms (null where it has none); with replications, their mean. */
    slow_fraction: number | null;
    /** With replications: how many, and the lowest and highest of each percentile across them (the percentiles above are their medians). */
    replications?: { n: number; p50: [number, number]; p99: [number, number]; p999: [number, number] } | null;
    /** Per percentile: whether the simulated value lies within the real run's 95 % interval (null where it has none). */
    within_real_ci: Record<keyof Percentiles, boolean> | null;
    /** The simulated instances' runs as the real run's instance_runs counts them; with replications, their mean. */
    instance_runs?: InstanceRuns;
  };
  error: Percentiles;
  met: boolean;
}

export interface ValidateRecord {
  kind: 'parm-simulate-validate';
  version: 2;
  goals: typeof GOALS;
  recorded: RecordedBench;
  model: SimModelRecord;
  calibration: Calibration[];
  /** With several real trials per mode and load: each one's medians over its trials, real against simulated (src/sim/over-trials.ts); absent with one trial each. */
  over_trials?: OverTrials[];
}

function bad(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

/** `equal-resources`, `parm k=3`, `hedged`, `none` (labels of `parm bench tail`). */
export function modeOfLabel(label: string): { sim_mode: Mode; k: number } {
  const parm = /^parm k=(\d+)$/.exec(label);
  if (parm) return { sim_mode: 'parm', k: Number(parm[1]) };
  const other = /^(none|equal-resources|hedged)(?: k=(\d+))?$/.exec(label);
  if (other) return { sim_mode: other[1] as Mode, k: other[2] ? Number(other[2]) : 2 };
  return bad(`validate.json: unknown mode "${label}"`);
}

const isTable = (t: unknown): t is QuantileTable => !!t && typeof t === 'object' && Array.isArray((t as QuantileTable).quantiles);
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Reads DIR/validate.json. The first format (no `version`) recorded per run only its mode, rate,
 * real and simulated percentiles and service tables; what it left out was fixed then: seed 1, one
 * trial, 4 deployed instances of fashion-mnist-mlp, 2 s of warm-up and 10 s measured, the default
 * background, parityNice 10, the next task to the free instance idle longest (warmFirst false,
 * before the engine had the option), and the machine's cores were not written down.
 */
export function readValidateRecord(dir: string): { recorded: RecordedBench; runs: RecordedRun[]; version: 1 | 2 } {
  const path = join(dir, 'validate.json');
  if (!existsSync(path)) bad(`--validate-from ${dir}: no validate.json there`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    bad(`${path}: not JSON: ${(e as Error).message}`);
  }
  const f = raw as Partial<ValidateRecord> & { calibration?: unknown };
  if (!f || typeof f !== 'object' || !Array.isArray(f.calibration) || f.calibration.length === 0) bad(`${path}: expected { calibration: [ ... ] } with at least one run`);
  const version = f.version === 2 ? 2 : 1;
  const recorded: RecordedBench =
    version === 2 && f.recorded
      ? f.recorded
      : {
          date: null,
          machine: null,
          load_average: null,
          deployment: 'fashion-mnist-mlp',
          instances: 4,
          duration_ms: 12_000,
          warmup_ms: 2000,
          background: { ...DEFAULT_BACKGROUND },
          parity_nice: 10,
          // Before warmFirst, the engine gave the next task to the instance idle longest.
          engine: { warm_first: false },
          cores: null,
        };
  if (!(recorded.instances >= 1 && recorded.duration_ms > recorded.warmup_ms && recorded.warmup_ms >= 0)) bad(`${path}: recorded: bad instances or durations`);
  if (typeof recorded.engine?.warm_first !== 'boolean') bad(`${path}: recorded.engine.warm_first: expected true or false`);
  const runs = (f.calibration as unknown[]).map((entry, i): RecordedRun => {
    const c = entry as Partial<RecordedRun> & { real?: Partial<RecordedRun['real']>; service?: Partial<RecordedRun['service']> };
    const where = `${path}: calibration[${i}]`;
    if (!c || typeof c.mode !== 'string' || !finite(c.rate) || c.rate <= 0) bad(`${where}: needs a mode and a rate`);
    if (!c.real || !finite(c.real.p50) || !finite(c.real.p99) || !finite(c.real.p999)) bad(`${where}: needs real p50, p99 and p999`);
    const s = c.service;
    const optionalTable = (t: unknown): boolean => t === null || t === undefined || isTable(t);
    if (!s || !isTable(s.deployed) || !optionalTable(s.parity) || !finite(s.frontend_ms) || !optionalTable(s.frontend)) {
      bad(`${where}: needs service { deployed: { quantiles }, parity, frontend_ms, frontend? }`);
    }
    if (s.run_time_window !== undefined && s.run_time_window !== 'measured' && s.run_time_window !== 'process') bad(`${where}: service.run_time_window: expected "measured" or "process"`);
    const whole = s.process_run_time;
    if (whole !== undefined && whole !== null && (!isTable(whole.deployed) || !optionalTable(whole.parity))) bad(`${where}: service.process_run_time: expected { deployed: { quantiles }, parity }`);
    const sent = s.sent;
    if (sent !== undefined && sent !== null && (!isTable(sent.deployed) || !optionalTable(sent.parity))) bad(`${where}: service.sent: expected { deployed: { quantiles }, parity }`);
    const mainThread = c.real.main_thread_cpu_ms_per_query;
    if (mainThread !== undefined && mainThread !== null && !(finite(mainThread) && mainThread >= 0)) bad(`${where}: real.main_thread_cpu_ms_per_query: expected ms >= 0 or null`);
    const mode = modeOfLabel(c.mode);
    const trial = finite(c.trial) ? c.trial : 0;
    return {
      mode: c.mode,
      ...mode,
      rate: c.rate,
      trial,
      // The first format ran `--seed 1` (the default), and a trial's seed is seed + trial.
      seed: finite(c.seed) ? c.seed : 1 + trial,
      real: {
        p50: c.real.p50,
        p99: c.real.p99,
        p999: c.real.p999,
        reconstructed_fraction: c.real.reconstructed_fraction ?? null,
        offered_rate: c.real.offered_rate ?? null,
        server_cpu_ms_per_query: c.real.server_cpu_ms_per_query ?? null,
        generator_cpu_pct: c.real.generator_cpu_pct ?? null,
        steal_pct: c.real.steal_pct ?? null,
        ci95: c.real.ci95 ?? null,
        slow_ms: c.real.slow_ms ?? null,
        slow_fraction: c.real.slow_fraction ?? null,
        instance_runs: instanceRunsOf(c.real.instance_runs, `${where}: real.instance_runs`),
        main_thread_cpu_ms_per_query: mainThread ?? null,
      },
      service: { deployed: s.deployed!, parity: s.parity ?? null, frontend_ms: s.frontend_ms!, frontend: s.frontend ?? null, outside_engine_correlation: s.outside_engine_correlation ?? null, engine_p50: s.engine_p50 ?? null, engine_latency: s.engine_latency ?? null, engine_latency_measured: s.engine_latency_measured ?? null,
        run_time_window: s.run_time_window ?? 'process',
        process_run_time: whole ? { deployed: whole.deployed, parity: whole.parity ?? null } : null,
        sent: sent ? { deployed: sent.deployed, parity: sent.parity ?? null } : null,
      },
    };
  });
  return { recorded, runs, version };
}

/** A recorded InstanceRuns, checked; null where the record has none. */
function instanceRunsOf(x: unknown, where: string): InstanceRuns | null {
  if (x === null || x === undefined) return null;
  const r = x as Partial<InstanceRuns>;
  const counts = (a: unknown): a is number[] => Array.isArray(a) && a.every((n) => finite(n) && n >= 0);
  if (typeof r !== 'object' || !counts(r.deployed) || !counts(r.parity)) bad(`${where}: expected { deployed: [counts], parity: [counts] }`);
  return { deployed: r.deployed, parity: r.parity };
}

/** Writes validate.json and each run's service-time file (as `--service FILE` reads it) into `dir`; returns the paths. */
export function writeValidateRecord(dir: string, record: ValidateRecord): string[] {
  mkdirSync(dir, { recursive: true });
  const written = [join(dir, 'validate.json')];
  writeFileSync(written[0]!, `${JSON.stringify(record, null, 2)}\n`);
  for (const c of record.calibration) {
    const file: ServiceTimeFile = { deployed: c.service.deployed, ...(c.service.parity ? { parity: c.service.parity } : {}), frontend: c.service.frontend ?? { quantiles: [c.service.frontend_ms, c.service.frontend_ms] } };
    const name = join(dir, `service-times-${c.mode.replace(/[^a-z0-9]+/gi, '-')}-${c.rate}${c.trial > 0 ? `-t${c.trial}` : ''}.json`);
    writeFileSync(name, `${JSON.stringify(file, null, 2)}\n`);
    written.push(name);
  }
  return written;
}

/** Relative error of a simulated value against the real one. */
export const relError = (real: number, simulated: number): number => (simulated - real) / real;

export function withinGoals(e: Percentiles): boolean {
  return Math.abs(e.p50) <= GOALS.p50 && Math.abs(e.p99) <= GOALS.p99 && Math.abs(e.p999) <= GOALS.p999;
}

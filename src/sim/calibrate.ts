// Simulates recorded real runs again (`parm simulate --validate` and `--validate-from`): the same
// mode, instances, arrivals rate, seed, durations and background schedule as the real run, its
// measured service times and frontend time, and a model of the machine (shared cores or not),
// and compares the percentiles.
import { ParmError } from '../errors.js';
import { empirical, fixed, type QuantileTable, type ServiceTime } from './service-times.js';
import { simulate, type SimConfig, type SimResult } from './simulate.js';
import { defaultFrontend, relError, withinGoals, type Calibration, type FrontendModel, type Percentiles, type RecordedBench, type RecordedRun, type SimModelRecord } from './validate-record.js';

/** The machine model of a re-simulation (docs/simulate.md: "The shared-CPU model"). */
export interface SimModel {
  /** Cores the instances share; null: a core per instance (the fleet simulation's default). */
  cores: number | null;
  /** Parity instances' nice value relative to deployed ones (CFS weights). */
  parityNice: number;
  /** The part of a measured run time that needs a core; the rest is waiting (messages, wake-ups). */
  runCpuFraction: number;
  /** CPU work per query outside the instances on the same cores, ms; or `frontend`: the run's frontend_ms. */
  cpuPerQuery: number | 'frontend';
  /**
   * Rounds of fitting the service times: the measured run times are wall times that already
   * include some sharing of the cores, so with shared cores the simulation's work per run is
   * adjusted until the run times it measures match the real ones (0: use them as they are).
   */
  fitRounds: number;
  /** Draw each run from the measured table of its idle class (`by_idle`) where the record has one; false: from the whole table. */
  idleClasses: boolean;
  /**
   * Simulations of each run, with different arrivals and service draws (seeds run.seed + 1000 j)
   * and the real run's background schedule; the percentiles compared are their medians (absent: 1).
   */
  replications?: number;
  /** The time outside the engine added to each answer (absent: defaultFrontend of each run; a validation resolves it once for its record). */
  frontend?: FrontendModel;
  /**
   * Which run-time tables of a record to draw from (RecordedRun.service.run_time_window; absent:
   * measured, where the record has them); `sent`: the measured window's runs until the instance
   * sent its result (RecordedRun.service.sent), for a model whose main thread adds the result's wait.
   */
  runTimes?: 'measured' | 'process' | 'sent';
  /**
   * CPU of the server's main thread per query, ms, handled as one queue (SimConfig.mainThread):
   * half at the arrival, half at each instance result (absent or 0: no main-thread model);
   * `measured`: each run's own (RecordedRun.real.main_thread_cpu_ms_per_query).
   */
  mainThreadMs?: number | 'measured';
}

/** The run-time tables a run is simulated with under `model`, and the window they cover. */
export function runTables(run: RecordedRun, model: SimModel): { deployed: QuantileTable; parity: QuantileTable | null; window: 'measured' | 'process' } {
  const window = run.service.run_time_window ?? 'process';
  if (model.runTimes === 'sent') {
    if (!run.service.sent) throw new ParmError('PARM_ERR_CLI_USAGE', `--run-times sent: the record of ${run.mode} at ${run.rate} q/s has no run-until-sent tables (made before parm_engine_run_sent_ms, or its server did not write it)`);
    return { ...run.service.sent, window: 'measured' };
  }
  if (model.runTimes === 'process' && window === 'measured' && run.service.process_run_time) return { ...run.service.process_run_time, window: 'process' };
  return { deployed: run.service.deployed, parity: run.service.parity, window };
}

/**
 * Validation's default part of a run that needs a core: `npm run bench:cpu` on the machine the
 * recorded validation ran on (docs/benchmark-tail.md, AMD EPYC, 2 vCPUs, 400 q/s) measured 770 us
 * (equal-resources) and 794 us (parm k = 2) of instance-thread CPU per query, where the recorded
 * runs at 400 q/s measured mean run times of 1.29 and 1.30 ms: 0.60 and 0.61.
 */
export const VALIDATE_RUN_CPU_FRACTION = 0.6;

export function modelRecord(m: SimModel): SimModelRecord {
  return { cores: m.cores, parity_nice: m.parityNice, run_cpu_fraction: m.runCpuFraction, cpu_per_query: typeof m.cpuPerQuery === 'number' ? `${m.cpuPerQuery}` : 'frontend_ms', fit_rounds: m.fitRounds, idle_classes: m.idleClasses, replications: m.replications ?? 1, frontend: m.frontend ?? 'whole', run_times: m.runTimes ?? 'measured', ...(m.mainThreadMs ? { main_thread_ms: m.mainThreadMs } : {}) };
}

/** The simulation of one recorded run with given service tables. */
export function configFor(bench: RecordedBench, run: RecordedRun, model: SimModel, service: { deployed: QuantileTable; parity: QuantileTable | null }): SimConfig {
  const cpuPerQuery = model.cpuPerQuery === 'frontend' ? run.service.frontend_ms : model.cpuPerQuery;
  return {
    mode: run.sim_mode,
    k: run.k,
    r: 1,
    instances: bench.instances,
    rate: run.rate,
    queries: Math.round((run.rate * bench.duration_ms) / 1000),
    warmupQueries: Math.round((run.rate * bench.warmup_ms) / 1000),
    service: { deployed: empirical(service.deployed, 'deployed, measured', model), parity: empirical(service.parity ?? service.deployed, 'parity, measured', model) },
    frontend: frontendTime(run, model.frontend ?? defaultFrontend([run])),
    stragglers: bench.background ? { background: { ...bench.background, seed: run.seed } } : {},
    ...(run.real.slow_ms ? { slowMs: run.real.slow_ms } : {}),
    seed: run.seed,
    warmFirst: bench.engine.warm_first,
    ...mainThreadOf(run, model),
    ...(model.cores !== null ? { cpu: { cores: model.cores, parityNice: model.parityNice, runCpuFraction: model.runCpuFraction, ...(cpuPerQuery > 0 ? { perQuery: fixed(cpuPerQuery) } : {}) } } : {}),
  };
}

/** The main-thread costs of a recorded run's simulation under `model` (SimModel.mainThreadMs), none where it asks for none. */
function mainThreadOf(run: RecordedRun, model: SimModel): Pick<SimConfig, 'mainThread'> {
  const ms = model.mainThreadMs === 'measured' ? run.real.main_thread_cpu_ms_per_query : model.mainThreadMs;
  if (ms === null) throw new ParmError('PARM_ERR_CLI_USAGE', `--main-thread measured: the record of ${run.mode} at ${run.rate} q/s has no main-thread CPU (made before it, or off Linux)`);
  return ms ? { mainThread: { arrivalMs: ms / 2, resultMs: ms / 2, timerMs: 0 } } : {};
}

/** The time outside the engine of a recorded run's simulation under `how` (FrontendModel). */
function frontendTime(run: RecordedRun, how: FrontendModel): ServiceTime {
  const table = run.service.frontend;
  if (!table || how === 'median') return fixed(run.service.frontend_ms);
  const { by_engine: _classes, by_engine_rank: _ranks, ...whole } = table;
  if (how === 'whole') return empirical(whole, 'outside the engine, measured');
  return empirical(table, 'outside the engine, measured', { engineRanks: how === 'ranks' });
}

/**
 * One step of the service-time fit: each quantile of the work table scaled by how far the
 * simulated run time at that probability is from the measured one, kept non-decreasing.
 */
export function refit(work: QuantileTable, measured: QuantileTable, simulated: QuantileTable): QuantileTable {
  // Damped against the noise of a short run's extreme quantiles.
  const ratio = (x: number): number => {
    const s = quantileAt(simulated, x);
    return Math.min(2, Math.max(0.5, s > 0 ? quantileAt(measured, x) / s : 1));
  };
  const scaled = (t: { p?: number[]; quantiles: number[] }) => {
    const p = t.p ?? t.quantiles.map((_, i) => i / (t.quantiles.length - 1));
    const quantiles: number[] = [];
    for (let i = 0; i < p.length; i++) quantiles.push(Math.max(t.quantiles[i]! * ratio(p[i]!), i > 0 ? quantiles[i - 1]! : 0));
    return { p: [...p], quantiles };
  };
  // Idle classes are scaled as the whole table is, at the same probabilities.
  return { ...scaled(work), ...(work.by_idle ? { by_idle: work.by_idle.map((c) => ({ ...c, ...scaled(c) })) } : {}) };
}

/** Probabilities over which simulated run times are compared with measured ones (beyond p = 0.9 a short run's tables are too steep and too noisy to compare). */
const COMPARED = [0.1, 0.25, 0.5, 0.75, 0.9];

/** The largest relative difference of simulated from measured run time at COMPARED probabilities. */
export function runTimeMismatch(measured: QuantileTable | null, simulated: QuantileTable | null): number | null {
  if (!measured || !simulated) return null;
  let worst = 0;
  for (const p of COMPARED) {
    const m = quantileAt(measured, p);
    if (m > 0) worst = Math.max(worst, Math.abs(quantileAt(simulated, p) / m - 1));
  }
  return worst;
}

/** A quantile table's value at probability x, linear between its points. */
export function quantileAt(t: QuantileTable, x: number): number {
  const tp = t.p ?? t.quantiles.map((_, i) => i / (t.quantiles.length - 1));
  let i = 0;
  while (i + 2 < tp.length && tp[i + 1]! <= x) i++;
  const w = Math.min(1, Math.max(0, (x - tp[i]!) / (tp[i + 1]! - tp[i]!)));
  return t.quantiles[i]! + (t.quantiles[i + 1]! - t.quantiles[i]!) * w;
}

export interface Resimulated {
  result: SimResult;
  /** The service tables the final simulation drew from (the measured ones, or the fitted work). */
  work: { deployed: QuantileTable; parity: QuantileTable | null };
  /** The measured run-time tables the work started from (runTables). */
  measured: ReturnType<typeof runTables>;
}

/** Simulates one recorded run under `model`, fitting the work per run first when asked. */
export async function resimulateRun(bench: RecordedBench, run: RecordedRun, model: SimModel): Promise<Resimulated> {
  const measured = runTables(run, model);
  let work = { deployed: measured.deployed, parity: measured.parity };
  const rounds = model.cores === null ? 0 : model.fitRounds;
  for (let i = 0; i < rounds; i++) {
    const res = await simulate(configFor(bench, run, model, work));
    work = {
      deployed: refit(work.deployed, measured.deployed, res.run_time.deployed),
      parity: work.parity && res.run_time.parity ? refit(work.parity, measured.parity!, res.run_time.parity) : work.parity,
    };
  }
  return { result: await simulate(configFor(bench, run, model, work)), work, measured };
}

/** Replication j > 0 of a run with the work already fitted: other arrivals and service draws, the real run's background schedule (its own seed). */
function replicate(bench: RecordedBench, run: RecordedRun, model: SimModel, work: Resimulated['work'], j: number): Promise<SimResult> {
  return simulate({ ...configFor(bench, run, model, work), seed: run.seed + 1000 * j });
}

/** Every recorded run simulated again under `model`, with its errors against the real run. */
export async function resimulate(bench: RecordedBench, runs: RecordedRun[], model: SimModel, onRun?: (c: Calibration) => void): Promise<Calibration[]> {
  const out: Calibration[] = [];
  const n = Math.max(1, Math.round(model.replications ?? 1));
  for (const run of runs) {
    const { result, work, measured: tables } = await resimulateRun(bench, run, model);
    const reps: SimResult[] = [result];
    for (let j = 1; j < n; j++) reps.push(await replicate(bench, run, model, work, j));
    const pick = (k: keyof Percentiles): number => median(reps.map((r) => r[k]));
    const span = (k: keyof Percentiles): [number, number] => [Math.min(...reps.map((r) => r[k])), Math.max(...reps.map((r) => r[k]))];
    const mean = (f: (r: SimResult) => number): number => reps.reduce((a, r) => a + f(r), 0) / n;
    const percentiles = { p50: pick('p50'), p99: pick('p99'), p999: pick('p999') };
    const simulated = {
      ...percentiles,
      replications: n > 1 ? { n, p50: span('p50'), p99: span('p99'), p999: span('p999') } : null,
      reconstructed_fraction: mean((r) => r.reconstructed_fraction),
      cores_busy: result.cores_busy,
      engine_latency: result.engine_latency,
      cpu_per_query_ms: model.cores === null ? 0 : model.cpuPerQuery === 'frontend' ? run.service.frontend_ms : model.cpuPerQuery,
      run_time_mismatch: { deployed: runTimeMismatch(tables.deployed, result.run_time.deployed), parity: runTimeMismatch(tables.parity, result.run_time.parity) },
      run_time_window: tables.window,
      slow_fraction: result.slow_fraction === null ? null : mean((r) => r.slow_fraction ?? 0),
      within_real_ci: run.real.ci95 ? withinIntervals(run.real.ci95, percentiles) : null,
      instance_runs: { deployed: meanRuns(reps, 'deployed'), parity: meanRuns(reps, 'parity') },
    };
    const error = { p50: relError(run.real.p50, simulated.p50), p99: relError(run.real.p99, simulated.p99), p999: relError(run.real.p999, simulated.p999) };
    const c: Calibration = { ...run, simulated, error, met: withinGoals(error) };
    out.push(c);
    onRun?.(c);
  }
  return out;
}

/** Per percentile: whether the simulated value lies within the real run's interval. */
function withinIntervals(ci: Record<keyof Percentiles, [number, number]>, sim: Percentiles): Record<keyof Percentiles, boolean> {
  const inside = (k: keyof Percentiles): boolean => sim[k] >= ci[k][0] && sim[k] <= ci[k][1];
  return { p50: inside('p50'), p99: inside('p99'), p999: inside('p999') };
}

/** Each instance's runs of one role averaged over the replications. */
function meanRuns(reps: SimResult[], role: 'deployed' | 'parity'): number[] {
  return reps[0]!.instance_runs[role].map((_, i) => reps.reduce((a, r) => a + (r.instance_runs[role][i] ?? 0), 0) / reps.length);
}

/** The median of a non-empty list. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// Service-time models for simulated instances: named distributions, or the empirical distribution
// a real benchmark measured (quantile tables per role, written by `parm bench tail`).
import { readFileSync } from 'node:fs';
import { ParmError } from '../errors.js';

export interface ServiceTime {
  /**
   * One draw in ms, from two uniforms in [0, 1). `classMs` picks the class of a measured table
   * with classes: for run times (by_idle) how long the instance had been without work before the
   * run (absent: idle since long, for draws that are not runs); for the time outside the engine
   * (by_engine) the engine's latency of the same answer (absent: the whole table); with `byRank`,
   * that latency's rank in its run instead, as a fraction in [0, 1) (by_engine_rank).
   */
  sample(u: number, u2: number, classMs?: number): number;
  /**
   * The time outside the engine by the rank of the answer's engine latency among the run's
   * answers (by_engine_rank): known only once the run is over, so the simulation draws it then.
   */
  readonly byRank?: boolean;
  /** Mean, ms (for sizing the offered load). */
  readonly meanMs: number;
  /** How it was given, for reports. */
  readonly describe: string;
}

/**
 * A measured distribution: run times (ms) at probabilities `p` (increasing, from 0 to 1; evenly
 * spaced 0, 1/(n-1), ..., 1 when absent), e.g. EngineMetrics.runTime at RUN_TIME_QUANTILES.
 */
export interface QuantileTable {
  p?: number[];
  quantiles: number[];
  count?: number;
  /**
   * The same run times split by how long the instance had been idle before each run
   * (parm_engine_run_time_by_idle_ms): each class covers idle times from the previous class's
   * bound up to `idle_below_ms` (null: unbounded), in rising order.
   */
  by_idle?: IdleClassTable[];
  /**
   * For the time outside the engine: the same times split by the engine's latency of the same
   * answer (each class from the previous bound up to `engine_below_ms`, null: unbounded), since
   * a busy server makes both slow at once.
   */
  by_engine?: EngineClassTable[];
  /**
   * The same times split by the rank of each answer's engine latency among its run's answers
   * (each class from the previous bound up to `engine_rank_below`, a fraction; the last is 1):
   * the slowest answers of a run, whatever their absolute latency, with what was outside the
   * engine for them.
   */
  by_engine_rank?: EngineRankClassTable[];
}

/** The run times of one idle class. */
export interface IdleClassTable {
  idle_below_ms: number | null;
  p?: number[];
  quantiles: number[];
  count?: number;
}

/** The times outside the engine of the answers whose engine latency was in one class. */
export interface EngineClassTable {
  engine_below_ms: number | null;
  p?: number[];
  quantiles: number[];
  count?: number;
}

/** The times outside the engine of the answers whose engine latency ranked in one band of their run. */
export interface EngineRankClassTable {
  engine_rank_below: number;
  p?: number[];
  quantiles: number[];
  count?: number;
}

/**
 * Bounds of the engine-latency rank classes (by_engine_rank), as fractions of a run's answers: the
 * faster half, then ever thinner bands of the slowest; sparse ones are merged when recorded.
 */
export const ENGINE_RANK_CLASSES: readonly number[] = [0.5, 0.9, 0.98, 0.995, 0.999, 1];

/**
 * Bounds (ms) of the engine-latency classes of a recorded time outside the engine: answers the
 * engine gave at once, in a busy moment, after a queue, and those a disturbance caught.
 */
export const ENGINE_CLASSES_MS: readonly number[] = [0.5, 1, 2, 5, 20, Infinity];

/**
 * Runs (or answers) a class of a table needs to stand for itself; a class with fewer (or no count)
 * draws from the whole table: a few dozen give a usable median but not a tail.
 */
export const MIN_CLASS_COUNT = 50;

/** The file `parm bench tail` writes: per role, the run times instances saw. */
export interface ServiceTimeFile {
  deployed: QuantileTable;
  parity?: QuantileTable;
  /** Client-side time a query spends outside the engine (transport, parsing), same form. */
  frontend?: QuantileTable;
}

function bad(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

export function fixed(ms: number): ServiceTime {
  return { sample: () => ms, meanMs: ms, describe: `fixed:${ms}` };
}

export function exponential(meanMs: number): ServiceTime {
  return { sample: (u) => -Math.log(1 - u) * meanMs, meanMs, describe: `exp:${meanMs}` };
}

/** Log-normal with the given median (ms) and sigma of the log. */
export function lognormal(medianMs: number, sigma: number): ServiceTime {
  return {
    // Box-Muller from two uniforms.
    sample: (u, u2) => medianMs * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * u2)),
    meanMs: medianMs * Math.exp((sigma * sigma) / 2),
    describe: `lognormal:${medianMs},${sigma}`,
  };
}

/**
 * Inverse-CDF sampling of a quantile table, linear between the points. With idle classes
 * (`by_idle`, unless `idleClasses` is false) a run draws from the class of its instance's idle
 * time, with engine-latency classes (`by_engine`) a time outside the engine from the class of its
 * answer's engine latency, where that class has MIN_CLASS_COUNT draws, else from the whole table;
 * with `engineRanks`, from the class of that latency's rank in its run (by_engine_rank, required).
 */
export function empirical(t: QuantileTable, describe = 'measured', o: { idleClasses?: boolean; engineRanks?: boolean } = {}): ServiceTime {
  const whole = inverseCdf(t, describe);
  if (t.by_idle !== undefined && (t.by_engine !== undefined || t.by_engine_rank !== undefined)) bad(`${describe}: a table has by_idle (run times) or by_engine / by_engine_rank (time outside the engine), not both`);
  if (o.engineRanks) return byEngineRank(t, whole, describe);
  const idle = o.idleClasses === false ? [] : t.by_idle;
  if (idle !== undefined && !Array.isArray(idle)) bad(`${describe}: by_idle must be a list of idle classes`);
  if (t.by_engine !== undefined && !Array.isArray(t.by_engine)) bad(`${describe}: by_engine must be a list of engine-latency classes`);
  const classes = idle?.length
    ? { bounds: idle.map((c) => c.idle_below_ms), tables: idle, what: 'idle', absent: Infinity, label: 'by idle time' }
    : t.by_engine?.length
      ? { bounds: t.by_engine.map((c) => c.engine_below_ms), tables: t.by_engine, what: 'engine', absent: null, label: "by the engine's latency" }
      : null;
  if (!classes) return { sample: (u) => whole.sample(u), meanMs: whole.meanMs, describe };
  const { bounds } = classes;
  if (!bounds.every((b, i) => (b === null ? i === bounds.length - 1 : Number.isFinite(b) && (i === 0 || b > bounds[i - 1]!)))) {
    bad(`${describe}: by_${classes.what} needs classes in rising ${classes.what}_below_ms order, only the last one unbounded (null)`);
  }
  // A value at or beyond the last bound falls in the last class (unbounded or not).
  const tables = classes.tables.map((c, i) => ((c.count ?? 0) >= MIN_CLASS_COUNT ? inverseCdf(c, `${describe}, ${classes.what} < ${bounds[i] ?? 'inf'} ms`) : whole));
  const limits = bounds.map((b) => b ?? Infinity);
  const last = tables.length - 1;
  return {
    sample: (u, _u2, classMs) => {
      const x = classMs ?? classes.absent;
      if (x === null) return whole.sample(u);
      let i = 0;
      while (i < last && x >= limits[i]!) i++;
      return tables[i]!.sample(u);
    },
    meanMs: whole.meanMs,
    describe: `${describe}, ${classes.label}`,
  };
}

/** Draws from the class of the answer's engine-latency rank (a fraction in [0, 1)); classes with too few answers draw from the whole table. */
function byEngineRank(t: QuantileTable, whole: ReturnType<typeof inverseCdf>, describe: string): ServiceTime {
  const classes = t.by_engine_rank;
  if (!Array.isArray(classes) || classes.length === 0) bad(`${describe}: by_engine_rank (classes by the rank of the engine latency) is missing or not a list; a record made before it has none: run --validate again`);
  const bounds = classes.map((c) => c.engine_rank_below);
  if (!bounds.every((b, i) => typeof b === 'number' && b > 0 && b <= 1 && (i === 0 || b > bounds[i - 1]!)) || bounds[bounds.length - 1] !== 1) {
    bad(`${describe}: by_engine_rank needs classes in rising engine_rank_below order, each in (0, 1], the last 1`);
  }
  const tables = classes.map((c, i) => ((c.count ?? 0) >= MIN_CLASS_COUNT ? inverseCdf(c, `${describe}, rank < ${bounds[i]}`) : whole));
  const last = tables.length - 1;
  return {
    sample: (u, _u2, rank) => {
      if (rank === undefined) return whole.sample(u);
      let i = 0;
      while (i < last && rank >= bounds[i]!) i++;
      return tables[i]!.sample(u);
    },
    byRank: true,
    meanMs: whole.meanMs,
    describe: `${describe}, by the rank of the engine's latency`,
  };
}

/** One quantile table's inverse CDF and mean. */
function inverseCdf(t: { p?: number[]; quantiles: number[] }, describe: string): { sample: (u: number) => number; meanMs: number } {
  const q = t.quantiles;
  if (!Array.isArray(q) || q.length < 2 || !q.every((x, i) => Number.isFinite(x) && x >= 0 && (i === 0 || x >= q[i - 1]!))) {
    bad(`${describe}: a quantile table needs at least 2 non-decreasing, non-negative ms values`);
  }
  const p = t.p ?? q.map((_, i) => i / (q.length - 1));
  if (p.length !== q.length || p[0] !== 0 || p[p.length - 1] !== 1 || !p.every((x, i) => i === 0 || x > p[i - 1]!)) {
    bad(`${describe}: p must rise from 0 to 1, one per quantile`);
  }
  let mean = 0;
  for (let i = 0; i + 1 < q.length; i++) mean += ((q[i]! + q[i + 1]!) / 2) * (p[i + 1]! - p[i]!);
  return {
    sample: (u) => {
      let i = 0;
      while (i + 2 < p.length && p[i + 1]! <= u) i++;
      const w = (u - p[i]!) / (p[i + 1]! - p[i]!);
      return q[i]! + (q[i + 1]! - q[i]!) * Math.min(1, Math.max(0, w));
    },
    meanMs: mean,
  };
}

/** `fixed:MS`, `exp:MEAN`, `lognormal:MEDIAN,SIGMA`. */
export function parseServiceTime(text: string): ServiceTime {
  const [kind, args = ''] = text.split(':', 2) as [string, string?];
  const nums = args.split(',').map(Number);
  const ok = (count: number) => nums.length === count && nums.every((x) => Number.isFinite(x) && x >= 0);
  if (kind === 'fixed' && ok(1)) return fixed(nums[0]!);
  if (kind === 'exp' && ok(1) && nums[0]! > 0) return exponential(nums[0]!);
  if (kind === 'lognormal' && ok(2) && nums[0]! > 0) return lognormal(nums[0]!, nums[1]!);
  return bad(`--service ${text}: expected fixed:<ms>, exp:<mean-ms>, lognormal:<median-ms>,<sigma> or a service-time JSON file`);
}

export function readServiceTimeFile(path: string): ServiceTimeFile {
  let f: ServiceTimeFile;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as ServiceTimeFile;
  } catch (e) {
    return bad(`${path}: cannot read a service-time file: ${(e as Error).message}`);
  }
  if (!f || typeof f !== 'object' || !f.deployed) bad(`${path}: expected { deployed: { quantiles }, parity?, frontend? }`);
  return f;
}

/**
 * Quantiles of a sample (ms) for a ServiceTimeFile: at n+1 evenly spaced probabilities, or at the
 * given probabilities (rising from 0 to 1, recorded as `p`), linear between order statistics.
 */
export function quantileTable(samples: ArrayLike<number>, at: number | readonly number[] = 200): QuantileTable {
  const s = Float64Array.from(samples).sort();
  if (s.length === 0) return { quantiles: [0, 0], count: 0 };
  const probabilities = typeof at === 'number' ? Array.from({ length: at + 1 }, (_, i) => i / at) : [...at];
  const quantiles = probabilities.map((q) => {
    const x = q * (s.length - 1);
    const lo = Math.floor(x);
    const hi = Math.min(lo + 1, s.length - 1);
    return s[lo]! + (s[hi]! - s[lo]!) * (x - lo);
  });
  return { ...(typeof at === 'number' ? {} : { p: probabilities }), quantiles, count: s.length };
}

// Service-time models for simulated instances: named distributions, or the empirical distribution
// a real benchmark measured (quantile tables per role, written by `parm bench tail`).
import { readFileSync } from 'node:fs';
import { ParmError } from '../errors.js';

export interface ServiceTime {
  /** One run's time in ms, from a uniform in [0, 1). */
  sample(u: number, u2: number): number;
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
}

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

/** Inverse-CDF sampling of a quantile table, linear between the points. */
export function empirical(t: QuantileTable, describe = 'measured'): ServiceTime {
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
    describe,
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

/** Quantiles at n+1 evenly spaced probabilities of a sample (ms), for a ServiceTimeFile. */
export function quantileTable(samples: ArrayLike<number>, n = 200): QuantileTable {
  const s = Float64Array.from(samples).sort();
  if (s.length === 0) return { quantiles: [0, 0], count: 0 };
  const quantiles: number[] = [];
  for (let i = 0; i <= n; i++) {
    const x = (i / n) * (s.length - 1);
    const lo = Math.floor(x);
    const hi = Math.min(lo + 1, s.length - 1);
    quantiles.push(s[lo]! + (s[hi]! - s[lo]!) * (x - lo));
  }
  return { quantiles, count: s.length };
}

// Run-time tables over a window of a real run: the server's run-time histogram
// (parm_engine_run_ms, per role and idle class) scraped twice, the counts of the first taken from
// the second's, and the difference read as a table of the histogram's own distribution (a point
// at each bound of a bucket that holds runs: bucketTable). `parm simulate --validate` scrapes just before the measured window and at the stop, so the tables it simulates
// with leave out the warm-up the server's own quantile gauges (its whole life) include.
import { RUN_IDLE_CLASSES_MS, RUN_TIME_BUCKETS_MS, idleClassLabel } from '../engine/metrics.js';
import type { InstanceRole } from '../engine/instance.js';
import type { QuantileTable } from './service-times.js';

/** Per role, per idle class label (`0.2`, ..., `+Inf`): runs at or under each bound of RUN_TIME_BUCKETS_MS then +Inf, cumulative. */
export type RunTimeBuckets = Record<InstanceRole, Map<string, number[]>>;

const INDEX_OF_BOUND = new Map(RUN_TIME_BUCKETS_MS.map((b, i) => [b, i]));

/** An empty set of histograms to fill from a scrape. */
export function emptyBuckets(): RunTimeBuckets {
  return { deployed: new Map(), parity: new Map() };
}

/**
 * Adds one `parm_engine_run_ms_bucket` sample (its labels and value) to `into`; false where its
 * role or `le` is not one this version writes (the scrape is then not used for a window).
 */
export function addBucket(into: RunTimeBuckets, labels: Record<string, string>, value: number): boolean {
  const role = labels['role'];
  if (role !== 'deployed' && role !== 'parity') return false;
  const le = labels['le'];
  const i = le === '+Inf' ? RUN_TIME_BUCKETS_MS.length : INDEX_OF_BOUND.get(Number(le));
  if (i === undefined || !Number.isFinite(value)) return false;
  const cls = labels['idle_below_ms'] ?? '';
  let counts = into[role].get(cls);
  if (!counts) into[role].set(cls, (counts = new Array<number>(RUN_TIME_BUCKETS_MS.length + 1).fill(NaN)));
  counts[i] = value;
  return true;
}

/** Whether every class of `b` has all of its buckets (a scrape of this version). */
export function complete(b: RunTimeBuckets): boolean {
  return (['deployed', 'parity'] as const).every((r) => [...b[r].values()].every((c) => c.every(Number.isFinite)));
}

/**
 * The value at probability p of a histogram's cumulative counts: the bucket that holds it, and
 * within it geometric interpolation (the bounds rise geometrically), kept in [min, max]: the
 * lowest bucket starts one step below the first bound, the +Inf bucket ends at max.
 */
export function bucketQuantile(cum: readonly number[], p: number, min: number, max: number): number {
  const n = cum[cum.length - 1]!;
  if (n <= 0) return NaN;
  const rank = p * n;
  let i = 0;
  // The first bucket that reaches the rank; at p = 0, the first with a run.
  while (i < cum.length - 1 && (cum[i]! < rank || cum[i]! === 0)) i++;
  const below = i === 0 ? 0 : cum[i - 1]!;
  const step = RUN_TIME_BUCKETS_MS[1]! / RUN_TIME_BUCKETS_MS[0]!;
  const lo = i === 0 ? RUN_TIME_BUCKETS_MS[0]! / step : RUN_TIME_BUCKETS_MS[i - 1]!;
  const hi = i < RUN_TIME_BUCKETS_MS.length ? RUN_TIME_BUCKETS_MS[i]! : Math.max(max, lo);
  const f = Math.min(1, Math.max(0, (rank - below) / (cum[i]! - below)));
  return Math.min(max, Math.max(min, lo * (hi / lo) ** f));
}

/**
 * A histogram's cumulative counts as a quantile table: p = 0 at the lower edge of the first bucket
 * with runs, then at each bucket's upper bound (max for +Inf) the fraction of runs at or under
 * it, values kept in [min, max]. A sample drawn from it (linear within a bucket of about 9 %)
 * falls in each bucket as often as the runs did. The server's fixed quantiles (RUN_TIME_QUANTILES)
 * are too coarse for that in the tail: with points at p = 0.98 and 0.99 only, a table spreads the
 * runs between, say, 1.5 and 2.9 ms evenly, and a simulation drew a fifth more runs over 2 ms (the
 * parity wait: docs/simulate.md) than the window had.
 */
export function bucketTable(cum: readonly number[], min: number, max: number): { p: number[]; quantiles: number[] } {
  const n = cum[cum.length - 1]!;
  const p = [0];
  // bucketQuantile keeps it in [min, max].
  const quantiles = [bucketQuantile(cum, 0, min, max)];
  let below = 0;
  for (let i = 0; i < cum.length; i++) {
    if (cum[i]! <= below) continue;
    below = cum[i]!;
    p.push(below / n);
    const bound = i < RUN_TIME_BUCKETS_MS.length ? RUN_TIME_BUCKETS_MS[i]! : max;
    quantiles.push(Math.max(quantiles[quantiles.length - 1]!, Math.min(max, Math.max(min, bound))));
  }
  p[p.length - 1] = 1;
  return { p, quantiles };
}

/** `after` less `before`, per bucket (a class absent before had no runs). */
function difference(after: readonly number[], before: readonly number[] | undefined): number[] {
  return after.map((v, i) => Math.max(0, v - (before?.[i] ?? 0)));
}

/**
 * One role's run-time table over the window from `before` to `after`: the distribution of every
 * run (bucketTable), and per idle class its own with its count (a class without runs in the
 * window draws from the whole table). `whole`: the same role's table over the
 * server's life (from the `after` scrape), whose least and greatest run bound the window's. Null
 * where the window holds no run of the role.
 */
export function windowTable(before: RunTimeBuckets, after: RunTimeBuckets, role: InstanceRole, whole: QuantileTable): QuantileTable | null {
  const min = whole.quantiles[0]!;
  const max = whole.quantiles[whole.quantiles.length - 1]!;
  const classes = RUN_IDLE_CLASSES_MS.map((bound) => {
    const label = idleClassLabel(bound);
    const a = after[role].get(label);
    return { bound, cum: a ? difference(a, before[role].get(label)) : null };
  });
  const present = classes.filter((c) => c.cum !== null).map((c) => c.cum!);
  if (present.length === 0) return null;
  const all = present[0]!.map((_, i) => present.reduce((s, c) => s + c[i]!, 0));
  if (all[all.length - 1]! <= 0) return null;
  const table = bucketTable(all, min, max);
  const by_idle = classes.map(({ bound, cum }) => {
    const count = cum ? cum[cum.length - 1]! : 0;
    // A class without runs gets a copy of the whole window's table (records hold no shared arrays).
    const own = count > 0 ? bucketTable(cum!, min, max) : { p: [...table.p], quantiles: [...table.quantiles] };
    return { idle_below_ms: bound === Infinity ? null : bound, ...own, count };
  });
  return { ...table, count: all[all.length - 1]!, by_idle };
}

// How precisely a finite run measures a percentile: the distribution-free 95 % interval of the
// p-quantile from order statistics (the ranks n p +- 1.96 sqrt(n p (1 - p)) of the sorted sample),
// and the fraction of a sample above a bound. `parm simulate --validate` reports both, because a
// tail percentile near a cliff (p99 where about 1 % of answers carry a 50 ms disturbance) moves by
// tens of ms when a few answers change sides.

/** The 95 % interval [lo, hi] of the p-quantile of a sorted sample (independent draws assumed). */
export function percentileInterval(sorted: ArrayLike<number>, p: number): [number, number] {
  const n = sorted.length;
  if (n === 0) return [NaN, NaN];
  const half = 1.96 * Math.sqrt(n * p * (1 - p));
  const at = (rank: number): number => sorted[Math.min(n - 1, Math.max(0, Math.round(rank)))]!;
  return [at(n * p - half - 1), at(n * p + half)];
}

/** The fraction of the values above `bound`. */
export function fractionAbove(values: ArrayLike<number>, bound: number): number {
  if (values.length === 0) return 0;
  let over = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! > bound) over++;
  return over / values.length;
}

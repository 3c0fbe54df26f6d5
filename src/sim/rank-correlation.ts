// Spearman's rank correlation of two paired samples (ties share their average rank): how far the
// time an answer spent outside the engine moves with the engine's latency of the same answer.

/** Ranks 0..n-1 of the values, ties given the mean of the ranks they span. */
function ranks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const r = new Float64Array(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    for (let k = i; k <= j; k++) r[order[k]!] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

/** Spearman's rho of x[i] against y[i]; null with fewer than 2 pairs or a constant sample. */
export function rankCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number | null {
  const n = Math.min(x.length, y.length);
  if (n < 2) return null;
  const rx = ranks(Array.prototype.slice.call(x, 0, n) as number[]);
  const ry = ranks(Array.prototype.slice.call(y, 0, n) as number[]);
  const mean = (n - 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (rx[i]! - mean) * (ry[i]! - mean);
    sxx += (rx[i]! - mean) ** 2;
    syy += (ry[i]! - mean) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

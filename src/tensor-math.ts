// Small reductions the TypeScript side needs to read model answers (the predicted class), for
// the evaluator and the benchmarks alike. Per-element work on request tensors belongs in the addon.

/**
 * Index of the largest value (the predicted class): the first one on ties; NaN never wins.
 * -1 for an empty vector, or when every value is NaN or -Infinity.
 */
export function argmax(v: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! > bestValue) {
      bestValue = v[i]!;
      best = i;
    }
  }
  return best;
}

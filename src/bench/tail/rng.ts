// Seeded randomness for the tail benchmark: Poisson arrival schedules and query orders that are
// identical for every mode given the same seed, so modes differ only in how they serve.
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

/** splitmix32 of the seed, so that nearby seeds (1, 2, 3) start far apart in the generator. */
function mix(seed: number): number {
  let z = (seed + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/** A seeded generator; `stream` separates independent uses of one seed (arrivals, order, ...). */
export function makeRng(seed: number, stream = 0): Rng {
  const rng = xoroshiro128plus(mix(mix(seed) ^ Math.imul(stream + 1, 0x27d4eb2f)));
  return { next: () => uniformFloat64(rng) };
}

/**
 * Arrival offsets (ms from the start) of a Poisson process of `rate` queries/s over `durationMs`:
 * exponential inter-arrival gaps with mean 1000 / rate ms.
 */
export function poissonSchedule(rate: number, durationMs: number, rng: Rng): Float64Array {
  if (!(rate > 0) || !(durationMs > 0)) return new Float64Array(0);
  const meanGap = 1000 / rate;
  const out: number[] = [];
  let t = 0;
  for (;;) {
    t += -Math.log(1 - rng.next()) * meanGap;
    if (t >= durationMs) break;
    out.push(t);
  }
  return Float64Array.from(out);
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return p;
}

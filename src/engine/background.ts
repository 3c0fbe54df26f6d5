// The seeded background-load schedule (BackgroundLoadSpec): which instances are disturbed in
// which period. Pure, so that benchmarks can print it and every mode sees the same one.
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { BackgroundLoadSpec } from './types.js';

/**
 * Targets, in order: deployed-0..deployed-(m-1), then (targets `all`, the default) parity-0...
 * Period i (starting i = 0 when the engine is ready, at i * periodMs) disturbs targets
 * [a] (width 1) or [a, b] (width 2): with rng = xoroshiro128plus(seed), a = uniformInt(rng, 0, n-1);
 * b' = uniformInt(rng, 0, n-2), b = b' < a ? b' : b' + 1 (a distinct pair). Each disturbance lasts
 * duty * periodMs from the start of its period. With a single target, width 2 picks it alone.
 */
export class BackgroundSchedule {
  private readonly rng;
  private readonly n: number;
  private readonly width: 1 | 2;

  constructor(spec: BackgroundLoadSpec, targetCount: number) {
    this.rng = xoroshiro128plus(spec.seed);
    this.n = targetCount;
    this.width = spec.width;
  }

  /** Target indices disturbed in the next period. */
  next(): number[] {
    const a = uniformInt(this.rng, 0, this.n - 1);
    if (this.width === 1 || this.n < 2) return [a];
    const b = uniformInt(this.rng, 0, this.n - 2);
    return [a, b < a ? b : b + 1];
  }
}

/** The target ids of a spec, in schedule order. */
export function backgroundTargets(spec: BackgroundLoadSpec, deployed: string[], parity: string[]): string[] {
  return spec.targets === 'deployed' ? deployed.slice() : [...deployed, ...parity];
}

/** The first `periods` periods of the schedule, as instance ids (for benchmarks and tests). */
export function backgroundPlan(spec: BackgroundLoadSpec, targets: string[], periods: number): string[][] {
  const s = new BackgroundSchedule(spec, targets.length);
  return Array.from({ length: periods }, () => s.next().map((i) => targets[i]!));
}

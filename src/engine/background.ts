// The seeded background-load schedule (BackgroundLoadSpec): which instances are disturbed in
// which period (pure, so that benchmarks can print it and every mode sees the same one), and its
// driver on the engine clock.
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { Clock, TimerHandle } from './clock.js';
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

/** What the background load disturbs (any EngineInstance). */
interface Disturbable {
  readonly id: string;
  disturb(d: { kind: BackgroundLoadSpec['kind']; intensity: number; forMs: number }): void;
}

/**
 * Runs the schedule on `clock` from now: period i starts at i * periodMs and disturbs its targets
 * for duty * periodMs. Returns a function that stops it.
 */
export function startBackground(spec: BackgroundLoadSpec, deployed: readonly Disturbable[], parity: readonly Disturbable[], clock: Clock): () => void {
  const all = [...deployed, ...parity];
  const targets = backgroundTargets(spec, deployed.map((i) => i.id), parity.map((i) => i.id));
  const byId = new Map(all.map((i) => [i.id, i]));
  const schedule = new BackgroundSchedule(spec, targets.length);
  const t0 = clock.now();
  let period = 0;
  let timer: TimerHandle | null = null;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    for (const idx of schedule.next()) byId.get(targets[idx]!)?.disturb({ kind: spec.kind, intensity: spec.intensity, forMs: spec.duty * spec.periodMs });
    period++;
    // Anchored to t0, so that timer lateness does not accumulate into a drifting schedule.
    timer = clock.setTimeout(tick, Math.max(0, t0 + period * spec.periodMs - clock.now()), true);
  };
  tick();
  return () => {
    stopped = true;
    clock.clearTimeout(timer);
  };
}

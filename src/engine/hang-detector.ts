// When an instance that has not answered counts as hung, relative to how long its runs take. A
// fixed `hangTimeoutMs` wins when set; otherwise the limit adapts: HANG_MULTIPLE times the
// instance's recent worst run time, never under HANG_FLOOR_MS. An instance running past
// SUSPECT_MULTIPLE times that worst run (and SUSPECT_FLOOR_MS) is reported as suspected hung
// before it is declared hung and replaced.

export const HANG_FLOOR_MS = 1000;
export const HANG_MULTIPLE = 20;
export const SUSPECT_FLOOR_MS = 100;
export const SUSPECT_MULTIPLE = 4;

/** The run times an instance saw lately (the last 64), for a robust "worst recent run". */
export class HangDetector {
  private readonly ring = new Float64Array(64);
  private count = 0;
  /** Worst of the ring, kept current on add. */
  private worst = 0;

  /** `fixedMs`: the hangTimeoutMs option when set (no adaptation). */
  constructor(private readonly fixedMs: number | undefined) {}

  /** Records one run's time (ms), including the warm-up run before the instance reports ready. */
  add(ms: number): void {
    const i = this.count++ % this.ring.length;
    const evicted = this.ring[i]!;
    this.ring[i] = ms;
    if (ms >= this.worst) this.worst = ms;
    else if (evicted >= this.worst) this.worst = Math.max(...this.ring.subarray(0, Math.min(this.count, this.ring.length)));
  }

  /** Median of the recent run times (ms), 0 before any. */
  get medianMs(): number {
    const n = Math.min(this.count, this.ring.length);
    if (n === 0) return 0;
    const sorted = Array.from(this.ring.subarray(0, n)).sort((a, b) => a - b);
    return sorted[n >> 1]!;
  }

  /** Silence or a run longer than this (ms) means hung. */
  get hangLimitMs(): number {
    return this.fixedMs ?? Math.max(HANG_FLOOR_MS, HANG_MULTIPLE * this.worst);
  }

  /** A run longer than this (ms) is reported as suspected hung. */
  get suspectLimitMs(): number {
    return Math.min(this.hangLimitMs, Math.max(SUSPECT_FLOOR_MS, SUSPECT_MULTIPLE * this.worst));
  }
}

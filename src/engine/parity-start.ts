// When parity work starts. Eager (parityDeferMs 0, the paper's): at once, for every coding group.
// Deferred (the default): a window's parity queries are encoded and run only if a member of its
// groups is still unanswered after a short wait relative to how long originals take (or at once
// when a member's instance fails). While nothing is late, parity instances stay idle, so parity
// costs the originals almost nothing; a late member is still reconstructed within milliseconds.
import type { Clock, TimerHandle } from './clock.js';
import type { ClosedWindow } from './coding-window.js';
import type { Counters } from './metrics.js';
import type { Unit } from './query.js';

/** Adaptive deferral: PARITY_DEFER_MULTIPLE x the median of recent deployed run times, at least the floor. */
export const PARITY_DEFER_FLOOR_MS = 1;
export const PARITY_DEFER_MULTIPLE = 3;

/** A window whose parity has not started yet. */
export interface PendingParity {
  readonly window: ClosedWindow;
  timer: TimerHandle | null;
}

const open = (u: Unit): boolean => u.output === null && !u.query.answered;

export class ParityStart {
  /** The last 64 deployed run times (ms), for the adaptive wait. */
  private readonly ring = new Float64Array(64);
  private count = 0;
  /** Median of `ring`, recomputed every 16 runs (it is read at every window). */
  private median = 0;
  /** Windows waiting for their deferral to end. */
  private readonly waiting = new Set<PendingParity>();

  constructor(
    /** A fixed wait (0: eager), or undefined: adaptive. */
    private readonly deferMs: number | undefined,
    private readonly clock: Clock,
    private readonly counters: Counters,
    /** How many parity tasks (rows) a window's parity is: counted when skipped. */
    private readonly rows: number,
    /** Encodes and queues a window's parity. */
    private readonly start: (w: ClosedWindow) => void,
  ) {}

  /** The wait before a window's parity starts, ms. */
  get delayMs(): number {
    return this.deferMs ?? Math.max(PARITY_DEFER_FLOOR_MS, PARITY_DEFER_MULTIPLE * this.median);
  }

  /** A deployed task ran for `ms` (injected delays left out). */
  observe(ms: number): void {
    this.ring[this.count++ % this.ring.length] = ms;
    if (this.count % 16 === 1) {
      const n = Math.min(this.count, this.ring.length);
      this.median = Array.from(this.ring.subarray(0, n)).sort((a, b) => a - b)[n >> 1]!;
    }
  }

  /** A window closed: its parity starts now (eager), or after the wait if a member is still open then. */
  closed(w: ClosedWindow): void {
    const wait = this.delayMs;
    if (wait <= 0) {
      this.start(w);
      return;
    }
    const p: PendingParity = { window: w, timer: null };
    p.timer = this.clock.setTimeout(() => this.release(p), wait);
    for (const g of w.groups) g.pendingParity = p;
    this.waiting.add(p);
  }

  /** A member's instance failed: its group's parity starts now, whatever the wait. */
  memberFailed(u: Unit): void {
    const p = u.group?.pendingParity;
    if (p) this.release(p);
  }

  dispose(): void {
    for (const p of this.waiting) this.clock.clearTimeout(p.timer);
    this.waiting.clear();
  }

  private release(p: PendingParity): void {
    if (!this.waiting.delete(p)) return;
    this.clock.clearTimeout(p.timer);
    for (const g of p.window.groups) g.pendingParity = null;
    if (p.window.groups.some((g) => g.members.some(open))) this.start(p.window);
    else this.counters.paritySkipped += this.rows;
  }
}

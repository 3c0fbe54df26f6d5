// When parity work starts. Eager (parityDeferMs 0, the paper's): at once, for every coding group.
// Deferred (the default): a window's parity queries are encoded and run only once a member of its
// groups is late: its original has been running for the wait (a multiple of how long originals
// take) without an answer, its instance failed, or the window has waited PARITY_DEFER_CAP_MULTIPLE
// waits with a member still unanswered. A member still queued behind other work is not late: its
// instance is not slow, and parity run for it would take the CPU the queue is waiting for. While
// nothing is late, parity instances stay idle, so parity costs the originals almost nothing; a
// straggling member is still reconstructed within milliseconds of being noticed.
import type { Clock, TimerHandle } from './clock.js';
import type { ClosedWindow } from './coding-window.js';
import { IdTable } from './id-table.js';
import type { Counters } from './metrics.js';
import type { Unit } from './query.js';

/** Adaptive deferral: PARITY_DEFER_MULTIPLE x the median of recent deployed run times, at least the floor. */
export const PARITY_DEFER_FLOOR_MS = 1;
export const PARITY_DEFER_MULTIPLE = 3;
/** A window with a member unanswered this many waits after it closed starts its parity, running or not. */
export const PARITY_DEFER_CAP_MULTIPLE = 10;

/** A window whose parity has not started yet. */
export interface PendingParity {
  /** Increasing, in the order windows closed (the waiting table's key). */
  readonly id: number;
  readonly window: ClosedWindow;
  /** Clock time the window closed. */
  readonly closedAt: number;
  timer: TimerHandle | null;
}

const open = (u: Unit): boolean => u.output === null && !u.query.answered;

/** When the earliest running task carrying `u` was handed to its instance; null if none runs. */
function runningSince(u: Unit): number | null {
  let since: number | null = null;
  for (const t of u.tasks) if (t.state === 'running' && (since === null || t.startedAt < since)) since = t.startedAt;
  return since;
}

export class ParityStart {
  /** The last 64 deployed run times (ms), for the adaptive wait. */
  private readonly ring = new Float64Array(64);
  private count = 0;
  /** Median of `ring`, recomputed every 16 runs (it is read at every window). */
  private median = 0;
  /** Windows waiting for their deferral to end (not a Set: src/engine/id-table.ts says why). */
  private readonly waiting = new IdTable<PendingParity>();
  private nextId = 1;

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
      // A typed copy sorts numerically without a comparator call per comparison.
      this.median = this.ring.slice(0, n).sort()[n >> 1]!;
    }
  }

  /** A window closed: its parity starts now (eager), or once a member is late (see the file's head). */
  closed(w: ClosedWindow): void {
    const wait = this.delayMs;
    if (wait <= 0) {
      this.start(w);
      return;
    }
    const p: PendingParity = { id: this.nextId++, window: w, closedAt: this.clock.now(), timer: null };
    p.timer = this.clock.setTimeout(() => this.check(p), wait);
    for (const g of w.groups) g.pendingParity = p;
    this.waiting.add(p);
  }

  /** A member's instance failed: its group's parity starts now, whatever the wait. */
  memberFailed(u: Unit): void {
    const p = u.group?.pendingParity;
    if (p) this.release(p, true);
  }

  dispose(): void {
    for (const p of [...this.waiting.values()]) {
      this.clock.clearTimeout(p.timer);
      this.waiting.delete(p.id);
    }
  }

  /**
   * The wait of `p` ended: its parity starts if a member is late, is skipped if every member is
   * answered, and otherwise is looked at again when the earliest member could be late.
   */
  private check(p: PendingParity): void {
    p.timer = null;
    if (this.waiting.get(p.id) !== p) return;
    const now = this.clock.now();
    const wait = this.delayMs;
    const capAt = p.closedAt + PARITY_DEFER_CAP_MULTIPLE * wait;
    let anyOpen = false;
    let next = capAt;
    for (const g of p.window.groups) {
      for (const u of g.members) {
        if (!open(u)) continue;
        anyOpen = true;
        const since = runningSince(u);
        const lateAt = since === null ? now + wait : since + wait;
        if (lateAt <= now) return this.release(p, true);
        if (lateAt < next) next = lateAt;
      }
    }
    if (!anyOpen || now >= capAt) return this.release(p, anyOpen);
    p.timer = this.clock.setTimeout(() => this.check(p), next - now);
  }

  /** Ends the wait of `p`: its parity starts (`run`) or is skipped, counted. */
  private release(p: PendingParity, run: boolean): void {
    if (!this.waiting.delete(p.id)) return;
    this.clock.clearTimeout(p.timer);
    p.timer = null;
    for (const g of p.window.groups) g.pendingParity = null;
    if (run && p.window.groups.some((g) => g.members.some(open))) this.start(p.window);
    else this.counters.paritySkipped += this.rows;
  }
}

// The queries' timeouts on one clock timer: every query arms one (the server's default request
// timeout), and nearly all are cancelled, in about the order they were armed, when their queries
// are answered. Timeouts of one length expire in the order they were armed, so each length keeps
// a FIFO; a cancelled entry is emptied at once, and a FIFO's head skips emptied entries, so the
// one timer waits for the oldest live timeout and is re-armed only when it fires. The engine
// disposes of it at close: until then an idle engine may hold one timer, for at most the longest
// timeout, after its last query.
import type { Clock, TimerHandle } from './clock.js';

/** Armed timeouts of one length, in the order they were armed (hence of their deadlines). */
interface Lane {
  entries: (TimeoutEntry | null)[];
  head: number;
}

/** A timeout armed in a TimeoutQueue; `cancel` it when it is no longer needed. */
export interface TimeoutEntry {
  at: number;
  fn: (() => void) | null;
  readonly lane: Lane;
}

export class TimeoutQueue {
  private readonly lanes = new Map<number, Lane>();
  private timer: TimerHandle | null = null;
  /** Clock time the timer is armed for (Infinity: none). */
  private armedAt = Infinity;
  /** Timeouts armed and neither cancelled nor fired: with none, a fired timer is not re-armed. */
  private live = 0;

  constructor(private readonly clock: Clock) {}

  /** Calls `fn` once, `ms` after now, unless cancelled first. */
  add(ms: number, fn: () => void): TimeoutEntry {
    let lane = this.lanes.get(ms);
    if (!lane) this.lanes.set(ms, (lane = { entries: [], head: 0 }));
    const e: TimeoutEntry = { at: this.clock.now() + ms, fn, lane };
    lane.entries.push(e);
    this.live++;
    if (e.at < this.armedAt) this.arm(e.at);
    return e;
  }

  /** The timeout will not fire; its closure is released now. */
  cancel(e: TimeoutEntry): void {
    if (e.fn === null) return;
    e.fn = null;
    // With none left the timer stays armed (clearing and arming one per query is what this queue
    // saves): it fires once, finds nothing and is not re-armed; dispose() clears it at close.
    this.live--;
    // Queries are mostly answered in arrival order: dropping emptied heads keeps each FIFO short.
    if (e.lane.entries[e.lane.head] === e) this.skipEmpty(e.lane);
  }

  /** Timeouts armed and neither cancelled nor fired. */
  get pending(): number {
    return this.live;
  }

  /** Entries still held, emptied ones not yet dropped included (what the queue costs in memory). */
  get held(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.entries.length - lane.head;
    return n;
  }

  dispose(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = Infinity;
    this.lanes.clear();
  }

  private skipEmpty(lane: Lane): void {
    const q = lane.entries;
    while (lane.head < q.length && q[lane.head]!.fn === null) q[lane.head++] = null;
    if (lane.head === q.length) {
      q.length = 0;
      lane.head = 0;
    } else if (lane.head > 1024 && lane.head * 2 > q.length) {
      q.splice(0, lane.head);
      lane.head = 0;
    }
  }

  private arm(at: number): void {
    this.clock.clearTimeout(this.timer);
    this.armedAt = at;
    // A timer may fire a fraction of a millisecond early: fire() re-arms for what is left.
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(1, Math.ceil(at - this.clock.now())));
  }

  private fire(): void {
    this.timer = null;
    this.armedAt = Infinity;
    const now = this.clock.now();
    const due: (() => void)[] = [];
    let next = Infinity;
    for (const [ms, lane] of this.lanes) {
      const q = lane.entries;
      while (lane.head < q.length && q[lane.head]!.at <= now) {
        const e = q[lane.head]!;
        q[lane.head++] = null;
        if (e.fn) {
          due.push(e.fn);
          this.live--;
        }
        e.fn = null;
      }
      this.skipEmpty(lane);
      if (q.length === 0) this.lanes.delete(ms);
      else next = Math.min(next, q[lane.head]!.at);
    }
    if (next < Infinity && this.live > 0) this.arm(next);
    for (const fn of due) fn();
  }
}

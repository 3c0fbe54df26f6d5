// A simulated clock for the engine: time moves only when run() or advance() moves it, from one
// timer to the next, so that the engine's own timing code runs unchanged in `parm simulate` and in
// the unit tests, deterministically and as fast as the CPU allows. `withNodeTimers()` is the same
// clock with the resolution of Node's timers, which the engine's real clock has.
import type { Clock, TimerHandle } from '../engine/clock.js';
import { MinHeap } from './min-heap.js';

interface Timer {
  /** When it is due. */
  key: number;
  /** Insertion order: timers due at the same time fire in the order they were set. */
  seq: number;
  fn: (() => void) | null;
  housekeeping: boolean;
}

export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  /** Min-heap on (at, seq). Cancelled timers stay in it with fn = null. */
  private readonly heap = new MinHeap<Timer>();
  /** Pending timers that are not housekeeping (query timers, instance completions). */
  private live = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number, housekeeping = false): TimerHandle {
    const timer: Timer = { key: this.t + Math.max(0, ms), seq: this.seq++, fn, housekeeping };
    this.heap.push(timer);
    if (!housekeeping) this.live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    const timer = handle as Timer | null | undefined;
    if (!timer || !timer.fn) return;
    timer.fn = null;
    if (!timer.housekeeping) this.live--;
  }

  /**
   * This clock as the engine's real clock (Node's setTimeout) behaves: a delay is truncated to
   * whole milliseconds, at least 1 (Node: "so that accuracy of sub-millisecond timers is not
   * assumed"), so a wait of 1.23 ms fires after 1 ms and one of 0.2 ms after 1 ms. The engine's
   * fractional waits (the adaptive parity wait, src/engine/parity-start.ts, and its re-checks) take
   * that long in production; simulated instances keep the exact clock for their run times.
   * `npm run bench:timers` on Node 20, 2 vCPUs: waits of 0.2 to 1.99 ms took 1.07-1.14 ms at the
   * median, 2.05 ms took 2.09 ms, 3 ms 3.09 ms.
   */
  withNodeTimers(): Clock {
    return {
      now: () => this.t,
      setTimeout: (fn, ms, housekeeping) => this.setTimeout(fn, nodeTimerDelay(ms), housekeeping),
      clearTimeout: (h) => this.clearTimeout(h),
    };
  }

  /** Timers that keep a simulation going (not housekeeping), still pending. */
  get pending(): number {
    return this.live;
  }

  /** Runs timers in time order up to `until` (inclusive) and leaves the clock there. */
  advance(until: number): void {
    while (this.heap.size > 0 && this.heap.peek()!.key <= until) this.fireNext();
    if (until > this.t) this.t = until;
  }

  /**
   * Runs timers until none but housekeeping ones are left, or `limit` ms of simulated time have
   * passed; microtasks (promise callbacks) do not run in between: use runAsync for that.
   */
  run(limit = Infinity): void {
    const end = this.t + limit;
    while (this.live > 0 && this.heap.size > 0 && this.heap.peek()!.key <= end) this.fireNext();
  }

  /** Like run(), but lets promise callbacks run after every timer (engine code awaits some). */
  async runAsync(limit = Infinity): Promise<void> {
    const end = this.t + limit;
    for (;;) {
      await settle();
      if (!(this.live > 0 && this.heap.size > 0 && this.heap.peek()!.key <= end)) break;
      this.fireNext();
    }
  }

  /**
   * Fires timers of any kind (housekeeping too: alive checks find hung instances) until `done()`
   * holds, no timer is left, or `limit` ms of simulated time have passed; promise callbacks run
   * after every timer.
   */
  async runUntil(done: () => boolean, limit = Infinity): Promise<void> {
    const end = this.t + limit;
    for (;;) {
      await settle();
      if (done() || this.heap.size === 0 || this.heap.peek()!.key > end) break;
      this.fireNext();
    }
  }

  private fireNext(): void {
    const timer = this.heap.pop()!;
    const fn = timer.fn;
    if (!fn) return;
    timer.fn = null;
    if (!timer.housekeeping) this.live--;
    if (timer.key > this.t) this.t = timer.key;
    fn();
  }
}

/** The delay after which Node's setTimeout(fn, ms) calls fn: ms truncated, at least 1 (NaN and out-of-range delays: 1). */
export function nodeTimerDelay(ms: number): number {
  return ms >= 1 && ms <= 2_147_483_647 ? Math.trunc(ms) : 1;
}

/** Resolves after pending promise callbacks have run. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

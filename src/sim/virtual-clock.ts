// A simulated clock for the engine: time moves only when run() or advance() moves it, from one
// timer to the next, so that the engine's own timing code runs unchanged in `parm simulate` and in
// the unit tests, deterministically and as fast as the CPU allows.
import type { Clock, TimerHandle } from '../engine/clock.js';

interface Timer {
  at: number;
  /** Insertion order: timers due at the same time fire in the order they were set. */
  seq: number;
  fn: (() => void) | null;
  housekeeping: boolean;
}

export class VirtualClock implements Clock {
  private t = 0;
  private seq = 0;
  /** Binary min-heap on (at, seq). Cancelled timers stay in it with fn = null. */
  private heap: Timer[] = [];
  /** Pending timers that are not housekeeping (query timers, instance completions). */
  private live = 0;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number, housekeeping = false): TimerHandle {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, housekeeping };
    this.push(timer);
    if (!housekeeping) this.live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    const timer = handle as Timer | null | undefined;
    if (!timer || !timer.fn) return;
    timer.fn = null;
    if (!timer.housekeeping) this.live--;
  }

  /** Timers that keep a simulation going (not housekeeping), still pending. */
  get pending(): number {
    return this.live;
  }

  /** Runs timers in time order up to `until` (inclusive) and leaves the clock there. */
  advance(until: number): void {
    while (this.heap.length > 0 && this.heap[0]!.at <= until) this.fireNext();
    if (until > this.t) this.t = until;
  }

  /**
   * Runs timers until none but housekeeping ones are left, or `limit` ms of simulated time have
   * passed; microtasks (promise callbacks) do not run in between: use runAsync for that.
   */
  run(limit = Infinity): void {
    const end = this.t + limit;
    while (this.live > 0 && this.heap.length > 0 && this.heap[0]!.at <= end) this.fireNext();
  }

  /** Like run(), but lets promise callbacks run after every timer (engine code awaits some). */
  async runAsync(limit = Infinity): Promise<void> {
    const end = this.t + limit;
    for (;;) {
      await settle();
      if (!(this.live > 0 && this.heap.length > 0 && this.heap[0]!.at <= end)) break;
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
      if (done() || this.heap.length === 0 || this.heap[0]!.at > end) break;
      this.fireNext();
    }
  }

  private fireNext(): void {
    const timer = this.pop()!;
    const fn = timer.fn;
    if (!fn) return;
    timer.fn = null;
    if (!timer.housekeeping) this.live--;
    if (timer.at > this.t) this.t = timer.at;
    fn();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Resolves after pending promise callbacks have run. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

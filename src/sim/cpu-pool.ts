// Processor sharing of a fixed number of cores among simulated runs (`parm simulate --cores`):
// while more runs are in progress than there are cores, each progresses at its weighted share of
// them, at most one core each, as the kernel's fair scheduler shares cores among runnable threads.
import type { Clock, TimerHandle } from '../engine/clock.js';
import { MinHeap } from './min-heap.js';

/** A CFS weight: nice 0 is 1024, and every nice step is about 1.25x (the kernel's sched_prio_to_weight). */
export function niceWeight(nice: number): number {
  return 1024 / 1.25 ** nice;
}

/** Work in progress on the pool; `cancel` it to drop it. */
export interface CpuJob {
  readonly weight: number;
}

interface Job extends CpuJob {
  /** The heap's key: the share's virtual work at which this job has had all it needs. */
  readonly key: number;
  readonly seq: number;
  /** Null once finished or cancelled. */
  done: (() => void) | null;
  readonly share: Share;
}

/** All jobs of one weight progress at the same rate: one virtual-work counter for all of them. */
interface Share {
  readonly weight: number;
  /** Work (ms at full speed) each job of this share has received since the pool started. */
  virtual: number;
  /** Cores per job now, at most 1. */
  rate: number;
  /** Jobs in progress (cancelled ones are left in the heap but not counted). */
  count: number;
  /** Jobs by `key`, least first. */
  heap: MinHeap<Job>;
}

/**
 * `cores` cores shared among jobs: a job needs `work` ms of one core; while n jobs with weights
 * w_i are in progress on c cores, job i gets min(1, x w_i) cores, x chosen so that the shares add
 * up to min(c, n) (water-filling: no job gets more than one core, what it cannot use goes to the
 * others). O(log n) per start or finish, plus O(number of distinct weights).
 */
export class CpuPool {
  /** Shares by weight, heaviest first. */
  private readonly shares: Share[] = [];
  private last = 0;
  private timer: TimerHandle | null = null;
  /** Busy core-ms so far (for reports: how loaded the cores were). */
  private busy = 0;
  private inUse = 0;
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    readonly cores: number,
  ) {
    if (!(cores > 0)) throw new RangeError(`CpuPool: cores must be > 0, got ${cores}`);
    this.last = clock.now();
  }

  /** Starts a job of `workMs` ms of one core; `done` runs (from a clock timer) when it has had them. */
  start(workMs: number, weight: number, done: () => void): CpuJob {
    this.advance();
    const share = this.shareOf(weight);
    const job: Job = { weight, key: share.virtual + Math.max(0, workMs), seq: this.seq++, done, share };
    share.heap.push(job);
    share.count++;
    this.reschedule();
    return job;
  }

  /** Drops a job that has not finished (its `done` never runs). */
  cancel(handle: CpuJob | null | undefined): void {
    const job = handle as Job | null | undefined;
    if (!job || !job.done) return;
    this.advance();
    job.done = null;
    job.share.count--;
    this.reschedule();
  }

  /** Jobs in progress. */
  get running(): number {
    let n = 0;
    for (const s of this.shares) n += s.count;
    return n;
  }

  /** Core-ms of work done so far. */
  get busyMs(): number {
    this.advance();
    return this.busy;
  }

  private shareOf(weight: number): Share {
    if (!(weight > 0)) throw new RangeError(`CpuPool: weight must be > 0, got ${weight}`);
    let i = 0;
    while (i < this.shares.length && this.shares[i]!.weight > weight) i++;
    const found = this.shares[i];
    if (found && found.weight === weight) return found;
    const share: Share = { weight, virtual: 0, rate: 1, count: 0, heap: new MinHeap<Job>() };
    this.shares.splice(i, 0, share);
    return share;
  }

  /** Brings every share's virtual work up to now at the rates in force since the last change. */
  private advance(): void {
    const now = this.clock.now();
    const dt = now - this.last;
    if (dt <= 0) return;
    for (const s of this.shares) if (s.count > 0) s.virtual += s.rate * dt;
    this.busy += this.inUse * dt;
    this.last = now;
  }

  /** Water-filling of the cores over the shares, then one timer for the next job to finish. */
  private reschedule(): void {
    let jobs = 0;
    let weights = 0;
    for (const s of this.shares) {
      jobs += s.count;
      weights += s.count * s.weight;
    }
    let left = this.cores;
    let capped = true;
    for (const s of this.shares) {
      if (s.count === 0) continue;
      // Heaviest first: a share whose fair part would exceed one core per job is capped at one.
      if (capped && left * s.weight >= weights) {
        s.rate = 1;
        left -= s.count;
        weights -= s.count * s.weight;
      } else {
        capped = false;
        s.rate = (left * s.weight) / weights;
      }
    }
    this.inUse = Math.min(this.cores, jobs);
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    let next = Infinity;
    for (const s of this.shares) {
      const top = this.top(s);
      if (top) next = Math.min(next, (top.key - s.virtual) / s.rate);
    }
    if (next < Infinity) this.timer = this.clock.setTimeout(() => this.finish(), Math.max(0, next));
  }

  /** The share's next job to finish, dropping cancelled ones. */
  private top(s: Share): Job | undefined {
    while (s.heap.size > 0 && s.heap.peek()!.done === null) s.heap.pop();
    return s.heap.peek();
  }

  private finish(): void {
    this.timer = null;
    this.advance();
    const done: (() => void)[] = [];
    for (const s of this.shares) {
      // A tolerance of 1e-7 ms of the share's time: the timer was set for the first of these.
      const slack = s.rate * 1e-7 + Math.abs(s.virtual) * 1e-12;
      for (let top = this.top(s); top && top.key - s.virtual <= slack; top = this.top(s)) {
        s.heap.pop();
        s.count--;
        done.push(top.done!);
        top.done = null;
      }
    }
    this.reschedule();
    // After the pool is consistent again: a callback may start the next job at once.
    for (const fn of done) fn();
  }
}


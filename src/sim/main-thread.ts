// The server's main thread in a simulation (SimConfig.mainThread): one thread through which every
// arrival, instance event and engine timer passes in turn, each handled only once the thread has
// spent its CPU on the ones before it. On shared cores (a CpuPool) that CPU is taken from the
// same cores as the instances' runs, so a busy moment holds arrivals, results and timers back
// together, as a real server's event loop does; the engine sees them when the thread gets to them.
import type { Clock, TimerHandle } from '../engine/clock.js';
import type { EngineInstance, InstanceEvents } from '../engine/instance.js';
import type { CpuPool } from './cpu-pool.js';

/** CPU the main thread spends on each kind of event, ms of one core. */
export interface MainThreadCosts {
  arrivalMs: number;
  resultMs: number;
  timerMs: number;
}

interface Job {
  costMs: number;
  fn: () => void;
  /** Checked when the thread gets to it: true drops it without cost (a timer cleared meanwhile). */
  dropped?: () => boolean;
}

/** A FIFO of jobs that does not shift its array: a head index, reset when it empties. */
class JobQueue {
  private readonly jobs: (Job | undefined)[] = [];
  private head = 0;
  get size(): number {
    return this.jobs.length - this.head;
  }
  push(job: Job): void {
    this.jobs.push(job);
  }
  shift(): Job | undefined {
    if (this.head === this.jobs.length) return undefined;
    const job = this.jobs[this.head];
    this.jobs[this.head++] = undefined;
    if (this.head === this.jobs.length || this.head > 4096) {
      this.jobs.splice(0, this.head);
      this.head = 0;
    }
    return job;
  }
}

export class MainThread {
  /** Arrivals waiting: handled before the instances' events and timers waiting with them (see submit). */
  private readonly arrivals = new JobQueue();
  private readonly others = new JobQueue();
  private busy = false;
  /** Events handled, and the total time they waited for the thread (ms). */
  handled = 0;
  waitedMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly pool: CpuPool | null,
    private readonly weight: number,
    readonly costs: MainThreadCosts,
  ) {}

  /**
   * `fn` runs once the thread has spent `costMs` on it, after the events before it. An `arrival`
   * goes ahead of the instance events and timers waiting: after a busy moment the server takes the
   * requests that came meanwhile while the results that came meanwhile still hold their
   * instances, as a traced real run showed (its task starts found an instance busy 30.5 % of the
   * time, against 24.6 % of the time the instances were busy; docs/simulate.md).
   */
  submit(costMs: number, fn: () => void, arrival = false, dropped?: () => boolean): void {
    const submitted = this.clock.now();
    (arrival ? this.arrivals : this.others).push({
      costMs,
      ...(dropped ? { dropped } : {}),
      fn: () => {
        this.handled++;
        this.waitedMs += this.clock.now() - submitted;
        fn();
      },
    });
    if (!this.busy) this.next();
  }

  /** Events queued or in hand. */
  get backlog(): number {
    return this.arrivals.size + this.others.size + (this.busy ? 1 : 0);
  }

  /** The engine's clock with every timer's callback handled on this thread. */
  engineClock(base: Clock): Clock {
    return {
      now: () => base.now(),
      setTimeout: (fn, ms, housekeeping) => {
        const handle: { inner: TimerHandle | null; cleared: boolean } = { inner: null, cleared: false };
        handle.inner = base.setTimeout(() => this.submit(this.costs.timerMs, fn, false, () => handle.cleared), ms, housekeeping);
        return handle;
      },
      clearTimeout: (h) => {
        const handle = h as { inner: TimerHandle | null; cleared: boolean } | null | undefined;
        if (!handle) return;
        // Cleared before the thread got to it: it does not run, as a real timer cleared during a busy moment does not.
        handle.cleared = true;
        base.clearTimeout(handle.inner);
      },
    };
  }

  /** An instance's events as the engine receives them: each handled on this thread. */
  instanceEvents(events: InstanceEvents): InstanceEvents {
    const cost = this.costs.resultMs;
    return {
      onReady: (inst, signature) => this.submit(0, () => events.onReady(inst, signature)),
      onResult: (inst: EngineInstance, taskId, output, shape, injectedMs) => this.submit(cost, () => events.onResult(inst, taskId, output, shape, injectedMs)),
      onTaskError: (inst, taskId, message) => this.submit(cost, () => events.onTaskError(inst, taskId, message)),
      onDown: (inst, taskIds, reason) => this.submit(cost, () => events.onDown(inst, taskIds, reason)),
      onGaveUp: (inst, reason) => this.submit(0, () => events.onGaveUp(inst, reason)),
    };
  }

  private next(): void {
    let job = this.arrivals.shift() ?? this.others.shift();
    while (job?.dropped?.()) job = this.arrivals.shift() ?? this.others.shift();
    this.busy = job !== undefined;
    if (!job) return;
    const done = (): void => {
      this.busy = false;
      job.fn();
      if (!this.busy) this.next();
    };
    if (this.pool && job.costMs > 0) this.pool.start(job.costMs, this.weight, done);
    else this.clock.setTimeout(done, Math.max(0, job.costMs));
  }
}

// The server's main thread in a simulation (SimConfig.mainThread): one thread through which every
// arrival, instance event and engine timer passes in turn, each handled only once the thread has
// spent its CPU on the ones before it. On shared cores (a CpuPool) that CPU is taken from the
// same cores as the instances' runs, so a busy moment holds arrivals, results and timers back
// together, as a real server's event loop does; the engine sees them when the thread gets to them.
import type { Clock, TimerHandle } from '../engine/clock.js';
import type { EngineInstance, InstanceEvents } from '../engine/instance.js';
import { TaskQueue, type Queued } from '../engine/queue.js';
import type { CpuPool } from './cpu-pool.js';

/** CPU the main thread spends on each kind of event, ms of one core. */
export interface MainThreadCosts {
  arrivalMs: number;
  resultMs: number;
  timerMs: number;
}

/** An event waiting for the thread; a timer's is cancelled in its queue when the timer is cleared meanwhile. */
interface Job extends Queued {
  costMs: number;
  fn: () => void;
}

/** An engine timer: the clock's timer until it fires, then its job on the thread. */
interface EngineTimer {
  inner: TimerHandle | null;
  job: Job | null;
}

export class MainThread {
  /** Arrivals waiting: handled before the instance events and timers waiting with them (see submit). */
  private readonly arrivals = new TaskQueue<Job>();
  private readonly others = new TaskQueue<Job>();
  private busy = false;

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
  submit(costMs: number, fn: () => void, arrival = false): Job {
    const job: Job = { state: 'queued', costMs, fn };
    (arrival ? this.arrivals : this.others).push(job);
    if (!this.busy) this.next();
    return job;
  }

  /** The engine's clock with every timer's callback handled on this thread. */
  engineClock(base: Clock): Clock {
    return {
      now: () => base.now(),
      setTimeout: (fn, ms, housekeeping) => {
        const timer: EngineTimer = { inner: null, job: null };
        timer.inner = base.setTimeout(() => (timer.job = this.submit(this.costs.timerMs, fn)), ms, housekeeping);
        return timer;
      },
      clearTimeout: (h) => {
        const timer = h as EngineTimer | null | undefined;
        if (!timer) return;
        base.clearTimeout(timer.inner);
        // Cleared before the thread got to it: it does not run, as a real timer cleared during a busy moment does not.
        if (timer.job) this.others.cancel(timer.job);
      },
    };
  }

  /** An instance's events as the engine receives them: each handled on this thread. */
  instanceEvents(events: InstanceEvents): InstanceEvents {
    const cost = this.costs.resultMs;
    return {
      onReady: (inst, signature) => this.submit(0, () => events.onReady(inst, signature)),
      onResult: (inst: EngineInstance, taskId, output, shape, injectedMs, sentAt) => this.submit(cost, () => events.onResult(inst, taskId, output, shape, injectedMs, sentAt)),
      onTaskError: (inst, taskId, message) => this.submit(cost, () => events.onTaskError(inst, taskId, message)),
      onDown: (inst, taskIds, reason) => this.submit(cost, () => events.onDown(inst, taskIds, reason)),
      onGaveUp: (inst, reason) => this.submit(0, () => events.onGaveUp(inst, reason)),
    };
  }

  private next(): void {
    const job = this.arrivals.shift() ?? this.others.shift();
    this.busy = job !== undefined;
    if (!job) return;
    job.state = 'running';
    const done = (): void => {
      job.state = 'done';
      this.busy = false;
      job.fn();
      if (!this.busy) this.next();
    };
    if (this.pool && job.costMs > 0) this.pool.start(job.costMs, this.weight, done);
    else this.clock.setTimeout(done, Math.max(0, job.costMs));
  }
}

// A simulated instance for `parm simulate`: the engine's EngineInstance contract on a VirtualClock,
// whose runs take a service time drawn from a model (given how long the instance sat idle before
// the run), stretched by the straggler models (a slow instance's factor, background and rack
// delays active when a run starts), on a core of its own or on cores shared with the other
// instances (a CpuPool), and which fails and restarts on a schedule. Its model is the identity on
// one float, so decoding is exact.
import type { Clock, TimerHandle } from '../engine/clock.js';
import type { EngineInstance, InstanceEvents, InstanceRole, InstanceSpec, InstanceState } from '../engine/instance.js';
import type { Disturbance, InstanceFault } from '../engine/instance-messages.js';
import type { InstanceHealth } from '../engine/types.js';
import type { Rng } from '../bench/tail/rng.js';
import type { CpuJob, CpuPool } from './cpu-pool.js';
import type { ServiceTime } from './service-times.js';

/** Per-instance behaviour, fixed by the simulation before the engine starts. */
export interface SimBehaviour {
  service: ServiceTime;
  /** Service times are multiplied by this (1 for a normal instance). */
  slowFactor: number;
  /** Mean time between failures (ms of simulated time), or undefined: never fails. */
  mtbfMs: number | undefined;
  restartMs: number;
  rng: Rng;
  /**
   * Cores shared with other instances, this instance's weight on them, and the part of a run's
   * service time that needs a core (the rest is waiting: messages, wake-ups); absent: a core of
   * its own, and a run takes its service time.
   */
  cpu?: { pool: CpuPool; weight: number; fraction: number };
}

/** The tensor signature every simulated instance reports: one float in, one float out. */
export const SIM_SIGNATURE = {
  inputs: [{ name: 'input', shape: [-1, 1], type: 'float32' }],
  outputs: [{ name: 'output', shape: [-1, 1], type: 'float32' }],
};

export class SimInstance implements EngineInstance {
  state: InstanceState = 'starting';
  restarts = 0;
  completedRuns = 0;
  readonly gaveUp = false;
  readonly backend = undefined;
  readonly suspectedHung = false;
  /** Runs completed, and their total service time (ms): the instance's utilisation. */
  runs = 0;
  busyMs = 0;
  private current: number | null = null;
  private timer: TimerHandle | null = null;
  private failTimer: TimerHandle | null = null;
  private job: CpuJob | null = null;
  /** When it last reported (ready, a result, a failure): the next run's idle time counts from here. */
  private lastEventAt = -Infinity;
  /** Delay disturbances (background load, rack slowdowns), each until its end time. */
  private delays: { until: number; ms: number }[] = [];

  constructor(
    readonly spec: InstanceSpec,
    private readonly events: InstanceEvents,
    private readonly clock: Clock,
    private readonly b: SimBehaviour,
  ) {}

  get id(): string {
    return this.spec.id;
  }
  get role(): InstanceRole {
    return this.spec.role;
  }
  get row(): number {
    return this.spec.row;
  }
  get freeSlots(): number {
    return this.state === 'ready' && this.current === null ? 1 : 0;
  }

  start(): void {
    this.state = this.restarts > 0 ? 'restarting' : 'starting';
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.state = 'ready';
      this.lastEventAt = this.clock.now();
      this.events.onReady(this, SIM_SIGNATURE);
    }, 0, true);
    this.scheduleFailure();
  }

  run(taskId: number, input: Float32Array, shape: number[]): void {
    this.current = taskId;
    this.state = 'busy';
    const now = this.clock.now();
    const work = this.b.service.sample(this.b.rng.next(), this.b.rng.next(), now - this.lastEventAt) * this.b.slowFactor;
    let delay = 0;
    if (this.delays.length > 0) {
      // In place: a run should not allocate (this is the simulator's hot path).
      let kept = 0;
      for (const d of this.delays) {
        if (d.until <= now) continue;
        delay += d.ms;
        this.delays[kept++] = d;
      }
      this.delays.length = kept;
    }
    this.runs++;
    // The identity model: the output is the input (the engine never writes either).
    const output = input;
    const batch = shape[0]!;
    const finish = (): void => {
      this.timer = null;
      this.job = null;
      if (this.current !== taskId) return;
      this.current = null;
      this.state = 'ready';
      this.busyMs += this.clock.now() - now;
      this.lastEventAt = this.clock.now();
      // As a real instance does, the injected delay is reported apart from the model's time.
      this.completedRuns++;
      this.events.onResult(this, taskId, output, [batch, 1], delay, this.clock.now());
    };
    const cpu = this.b.cpu;
    if (!cpu) {
      this.timer = this.clock.setTimeout(finish, delay + work);
      return;
    }
    // A real instance sleeps out an injected delay before its run, and part of a run's time is
    // waiting (messages, wake-ups), not computing: that time needs no core.
    const wait = delay + work * (1 - cpu.fraction);
    const compute = (): void => {
      this.timer = null;
      this.job = cpu.pool.start(work * cpu.fraction, cpu.weight, finish);
    };
    if (wait > 0) this.timer = this.clock.setTimeout(compute, wait);
    else compute();
  }

  abandon(): boolean {
    return false;
  }

  setFaults(_faults: InstanceFault[]): void {}

  /** Background load and rack slowdowns: `delay` disturbances add to runs that start meanwhile. */
  disturb(d: Disturbance): void {
    if (d.kind === 'delay') this.delays.push({ until: this.clock.now() + d.forMs, ms: d.intensity });
  }

  checkAlive(): void {}

  health(): InstanceHealth {
    return { id: this.id, role: this.role, state: this.state, restarts: this.restarts, completedRuns: this.completedRuns, inFlight: this.current === null ? 0 : 1, suspectedHung: false, recentRunMs: 0 };
  }

  async close(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.b.cpu?.pool.cancel(this.job);
    this.job = null;
    this.clock.clearTimeout(this.failTimer);
    this.state = 'down';
  }

  private scheduleFailure(): void {
    if (this.b.mtbfMs === undefined) return;
    const after = -Math.log(1 - this.b.rng.next()) * this.b.mtbfMs;
    this.failTimer = this.clock.setTimeout(() => this.fail(), after, true);
  }

  /** A crash: the task in flight is lost, the instance is back after restartMs. */
  private fail(): void {
    this.clock.clearTimeout(this.timer);
    this.b.cpu?.pool.cancel(this.job);
    this.job = null;
    const task = this.current;
    this.current = null;
    this.state = 'down';
    this.lastEventAt = this.clock.now();
    this.events.onDown(this, task === null ? [] : [task], 'simulated failure');
    this.state = 'restarting';
    this.timer = this.clock.setTimeout(() => {
      this.restarts++;
      this.start();
    }, this.b.restartMs, true);
  }
}

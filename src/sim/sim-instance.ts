// A simulated instance for `parm simulate`: the engine's EngineInstance contract on a VirtualClock,
// whose runs take a service time drawn from a model, stretched by the straggler models (a slow
// instance's factor, background and rack delays active when a run starts), and which fails and
// restarts on a schedule. Its model is the identity on one float, so decoding is exact.
import type { Clock, TimerHandle } from '../engine/clock.js';
import type { EngineInstance, InstanceEvents, InstanceRole, InstanceSpec, InstanceState } from '../engine/instance.js';
import type { Disturbance, InstanceFault } from '../engine/instance-messages.js';
import type { InstanceHealth } from '../engine/types.js';
import type { Rng } from '../bench/tail/rng.js';
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
}

/** The tensor signature every simulated instance reports: one float in, one float out. */
export const SIM_SIGNATURE = {
  inputs: [{ name: 'input', shape: [-1, 1], type: 'float32' }],
  outputs: [{ name: 'output', shape: [-1, 1], type: 'float32' }],
};

export class SimInstance implements EngineInstance {
  state: InstanceState = 'starting';
  restarts = 0;
  readonly gaveUp = false;
  readonly backend = undefined;
  readonly suspectedHung = false;
  /** Runs completed, and their total service time (ms): the instance's utilisation. */
  runs = 0;
  busyMs = 0;
  private current: number | null = null;
  private timer: TimerHandle | null = null;
  private failTimer: TimerHandle | null = null;
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
      this.events.onReady(this, SIM_SIGNATURE);
    }, 0, true);
    this.scheduleFailure();
  }

  run(taskId: number, input: Float32Array, shape: number[]): void {
    this.current = taskId;
    this.state = 'busy';
    const now = this.clock.now();
    let ms = this.b.service.sample(this.b.rng.next(), this.b.rng.next()) * this.b.slowFactor;
    if (this.delays.length > 0) {
      this.delays = this.delays.filter((d) => d.until > now);
      for (const d of this.delays) ms += d.ms;
    }
    this.runs++;
    this.busyMs += ms;
    // The identity model: the output is the input (the engine never writes either).
    const output = input;
    const batch = shape[0]!;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (this.current !== taskId) return;
      this.current = null;
      this.state = 'ready';
      this.events.onResult(this, taskId, output, [batch, 1]);
    }, ms);
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
    return { id: this.id, role: this.role, state: this.state, restarts: this.restarts, inFlight: this.current === null ? 0 : 1, suspectedHung: false, recentRunMs: 0 };
  }

  async close(): Promise<void> {
    this.clock.clearTimeout(this.timer);
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
    const task = this.current;
    this.current = null;
    this.state = 'down';
    this.events.onDown(this, task === null ? [] : [task], 'simulated failure');
    this.state = 'restarting';
    this.timer = this.clock.setTimeout(() => {
      this.restarts++;
      this.start();
    }, this.b.restartMs, true);
  }
}

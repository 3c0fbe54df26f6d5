// Scripted fake instances for the engine's unit tier: an InstanceFactory whose instances run a
// linear fake model on the engine clock (a VirtualClock), with per-run timing and failures chosen
// by a script. No onnxruntime, no threads: the coding state machine alone.
import type { Clock, TimerHandle } from '../../src/engine/clock.js';
import type { EngineInstance, InstanceEvents, InstanceFactory, InstanceSpec, InstanceState } from '../../src/engine/instance.js';
import type { Disturbance, InstanceFault } from '../../src/engine/instance-messages.js';
import { HangDetector } from '../../src/engine/hang-detector.js';
import type { InstanceHealth } from '../../src/engine/types.js';

/** Floats per sample in and out of the fake model. */
export const IN = 4;
export const OUT = 2;

/** The fake model, linear so that Fp = F decodes exactly: F(x)_j = sum_i x_i * (i + j + 1). */
export function fakeModel(x: Float32Array): Float32Array {
  const out = new Float32Array(OUT);
  for (let j = 0; j < OUT; j++) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * (i + j + 1);
    out[j] = s;
  }
  return out;
}

/** What one run does: answer after `ms` (result or model error), die, or never answer. */
/**
 * `waitMs`: of a result's `ms`, how long it waited for the engine's thread after the instance sent
 * it (the instance then says when it sent, as a worker thread does); absent: it does not say.
 */
export type Outcome = { kind: 'result' | 'error' | 'crash' | 'hang' | 'wrong-size'; ms: number; waitMs?: number };

/** Chooses each run's outcome; `run` counts this instance's runs from 0 (across restarts). */
export type Script = (id: string, run: number, taskId: number, batch: number) => Outcome;

export const ok = (ms = 1): Outcome => ({ kind: 'result', ms });

export interface RunRecord {
  id: string;
  taskId: number;
  batch: number;
  /** The task's input as the instance got it. */
  input: Float32Array;
  at: number;
  outcome: Outcome['kind'];
  /** When its result was reported (null: it crashed, hung, or has not finished). */
  resultAt: number | null;
}

/** Builds fake instances and records every run they make. */
export class FakeFleet {
  readonly instances = new Map<string, FakeInstance>();
  readonly runs: RunRecord[] = [];
  /** Instances whose start fails (they give up after maxStartFailures). */
  readonly failStart = new Set<string>();
  script: Script;
  /** Model load time and restart delay (ms of engine clock). */
  startMs = 1;
  restartMs = 50;

  constructor(script: Script = () => ok()) {
    this.script = script;
  }

  readonly factory: InstanceFactory = (spec, events, clock) => {
    const inst = new FakeInstance(spec, events, clock, this);
    this.instances.set(spec.id, inst);
    return inst;
  };

  get(id: string): FakeInstance {
    return this.instances.get(id)!;
  }
}

export class FakeInstance implements EngineInstance {
  state: InstanceState = 'starting';
  restarts = 0;
  completedRuns = 0;
  gaveUp = false;
  faults: InstanceFault[];
  disturbances: Disturbance[] = [];
  private runCount = 0;
  private current: number | null = null;
  private timer: TimerHandle | null = null;
  private lastSeen = 0;
  private startFailures = 0;
  private hung = false;
  private suspected = false;
  /** The engine's hang rule, fed with this fake's run times like a real instance's. */
  private readonly runs: HangDetector;

  constructor(
    readonly spec: InstanceSpec,
    private readonly events: InstanceEvents,
    private readonly clock: Clock,
    private readonly fleet: FakeFleet,
  ) {
    this.faults = spec.faults;
    this.runs = new HangDetector(spec.hangTimeoutMs);
  }

  get id(): string {
    return this.spec.id;
  }
  get role(): 'deployed' | 'parity' {
    return this.spec.role;
  }
  get row(): number {
    return this.spec.row;
  }
  get backend(): undefined {
    return undefined;
  }
  get suspectedHung(): boolean {
    return this.suspected;
  }
  get freeSlots(): number {
    return this.state === 'ready' && this.current === null ? 1 : 0;
  }

  start(): void {
    this.state = this.restarts > 0 ? 'restarting' : 'starting';
    this.lastSeen = this.clock.now();
    this.timer = this.clock.setTimeout(() => {
      if (this.fleet.failStart.has(this.id)) {
        this.startFailures++;
        this.down('model failed to load: scripted');
        return;
      }
      this.state = 'ready';
      this.hung = false;
      this.lastSeen = this.clock.now();
      this.events.onReady(this, {
        inputs: [{ name: 'input', shape: [-1, IN], type: 'float32' }],
        outputs: [{ name: 'logits', shape: [-1, OUT], type: 'float32' }],
      });
    }, this.fleet.startMs);
  }

  run(taskId: number, input: Float32Array, shape: number[]): void {
    if (this.freeSlots === 0) throw new Error(`${this.id}: run() while not free (state ${this.state})`);
    const batch = shape[0]!;
    const outcome = this.fleet.script(this.id, this.runCount++, taskId, batch);
    const data = input.slice();
    const record: RunRecord = { id: this.id, taskId, batch, input: data, at: this.clock.now(), outcome: outcome.kind, resultAt: null };
    this.fleet.runs.push(record);
    this.current = taskId;
    this.state = 'busy';
    this.lastSeen = this.clock.now();
    if (outcome.kind === 'hang') {
      this.hung = true;
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      if (this.current !== taskId) return;
      if (outcome.kind === 'crash') {
        this.down('exited with code 17');
        return;
      }
      this.current = null;
      this.state = 'ready';
      this.suspected = false;
      this.runs.add(this.clock.now() - this.lastSeen);
      this.lastSeen = this.clock.now();
      if (outcome.kind === 'error') {
        this.events.onTaskError(this, taskId, 'scripted model error');
        return;
      }
      record.resultAt = this.clock.now();
      const out = new Float32Array(batch * OUT);
      for (let b = 0; b < batch; b++) out.set(fakeModel(data.subarray(b * IN, (b + 1) * IN)), b * OUT);
      this.completedRuns++;
      const sentAt = outcome.waitMs === undefined ? undefined : this.clock.now() - outcome.waitMs;
      this.events.onResult(this, taskId, outcome.kind === 'wrong-size' ? out.subarray(1) : out, [batch, OUT], 0, sentAt);
    }, outcome.ms);
  }

  abandon(): boolean {
    return false;
  }

  setFaults(faults: InstanceFault[]): void {
    this.faults = faults;
  }

  disturb(d: Disturbance): void {
    this.disturbances.push(d);
  }

  checkAlive(now: number): void {
    this.suspected = this.current !== null && now - this.lastSeen > this.runs.suspectLimitMs;
    if (this.hung && now - this.lastSeen > this.runs.hangLimitMs) this.down(`no heartbeat or result for ${Math.round(now - this.lastSeen)} ms`);
  }

  health(): InstanceHealth {
    return {
      id: this.id,
      role: this.role,
      state: this.state,
      restarts: this.restarts,
      completedRuns: this.completedRuns,
      inFlight: this.current === null ? 0 : 1,
      suspectedHung: this.suspected,
      recentRunMs: this.runs.medianMs,
    };
  }

  async close(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.state = 'down';
  }

  private down(reason: string): void {
    const task = this.current;
    this.current = null;
    this.hung = false;
    this.state = 'down';
    this.events.onDown(this, task === null ? [] : [task], reason);
    if (this.startFailures >= this.spec.maxStartFailures) {
      this.gaveUp = true;
      this.events.onGaveUp(this, reason);
      return;
    }
    this.state = 'restarting';
    this.timer = this.clock.setTimeout(() => {
      this.restarts++;
      this.start();
    }, this.fleet.restartMs);
  }
}

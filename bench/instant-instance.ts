// An instance for the main-thread benchmark (bench/main-thread.bench.ts), not part of parm: it
// answers every task on the engine's own thread at the next turn of the event loop with a copy of
// a fixed output, so that a server process built on it spends its CPU only on the front and the
// engine (no model thread, no messages to one): what is left to measure is parm's own work.
import * as ort from 'onnxruntime-node';
import type { Clock } from '../src/engine/clock.js';
import type { EngineInstance, InstanceEvents, InstanceFactory, InstanceRole, InstanceSpec, InstanceState, ModelSignature } from '../src/engine/instance.js';
import { sessionSignature } from '../src/engine/session-signature.js';
import type { InstanceHealth } from '../src/engine/types.js';

/** The model's signature as a local instance reports it (read once from the file, then the session is released). */
async function signatureOf(modelPath: string): Promise<ModelSignature> {
  const s = await ort.InferenceSession.create(modelPath);
  const sig = sessionSignature(s);
  await s.release();
  return sig;
}

class InstantInstance implements EngineInstance {
  state: InstanceState = 'starting';
  readonly restarts = 0;
  completedRuns = 0;
  readonly gaveUp = false;
  readonly backend = undefined;
  readonly suspectedHung = false;
  private current: number | null = null;

  constructor(
    readonly spec: InstanceSpec,
    private readonly events: InstanceEvents,
    private readonly signature: ModelSignature,
    /** Output floats per sample. */
    private readonly outElements: number,
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
    setImmediate(() => {
      this.state = 'ready';
      this.events.onReady(this, this.signature);
    });
  }

  run(taskId: number, input: Float32Array, shape: number[]): void {
    this.current = taskId;
    this.state = 'busy';
    const out = new Float32Array(shape[0]! * this.outElements);
    for (let i = 0; i < out.length; i++) out[i] = input[i % input.length]!;
    setImmediate(() => {
      this.current = null;
      this.state = 'ready';
      this.completedRuns++;
      this.events.onResult(this, taskId, out, [shape[0]!, this.outElements]);
    });
  }

  abandon(): boolean {
    return false;
  }
  setFaults(): void {}
  disturb(): void {}
  checkAlive(): void {}

  health(): InstanceHealth {
    return { id: this.id, role: this.role, state: this.state, restarts: 0, completedRuns: this.completedRuns, inFlight: this.current === null ? 0 : 1, suspectedHung: false, recentRunMs: 0 };
  }

  async close(): Promise<void> {
    this.state = 'down';
  }
}

/** A factory of instant instances for a deployment whose deployed model is `modelPath` (parity models share its signature here). */
export async function instantInstanceFactory(modelPath: string): Promise<InstanceFactory> {
  const signature = await signatureOf(modelPath);
  const out = signature.outputs[0]!.shape.slice(1).reduce((a, b) => a * Math.max(1, b), 1);
  return (spec: InstanceSpec, events: InstanceEvents, _clock: Clock) => new InstantInstance(spec, events, signature, out);
}

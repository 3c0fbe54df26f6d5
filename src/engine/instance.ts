// What the engine needs from a model instance, whatever runs it: an onnxruntime session in a
// worker thread or child process here (local-instance.ts), a scripted fake in unit tests, a
// simulated one in `parm simulate`, or a model server on another host. The instance pool builds
// them through an InstanceFactory, so the coding logic never knows which kind it drives.
import type { Clock } from './clock.js';
import type { Disturbance, InstanceFault, TensorMeta } from './instance-messages.js';
import type { RemoteBackend } from './remote-instance.js';
import type { InstanceHealth } from './types.js';

export type InstanceRole = 'deployed' | 'parity';
export type InstanceState = InstanceHealth['state'];

/** How to build one instance; the engine fills it from its resolved options. */
export interface InstanceSpec {
  /** `deployed-<i>` or `parity-<j>` (j counts across parity rows). */
  id: string;
  role: InstanceRole;
  /** Parity row served (parity instances); 0 for deployed ones. */
  row: number;
  /** The ONNX file a local instance runs (undefined for a remote one). */
  modelPath: string | undefined;
  /** A remote instance's model endpoint and how to reach it (undefined for a local one). */
  backend: RemoteBackend | undefined;
  threads: number;
  isolation: 'thread' | 'process';
  heartbeatMs: number;
  /**
   * Silence (no heartbeat, no result) beyond which the instance is declared hung and replaced;
   * undefined: relative to its observed run times (hang-detector.ts).
   */
  hangTimeoutMs: number | undefined;
  /** Nice value of the inference thread (0 = unchanged). */
  nice: number;
  /** Consecutive failed starts after which the instance stays down. */
  maxStartFailures: number;
  /** Faults injected from the start (setFaults replaces them). */
  faults: InstanceFault[];
}

/** The model's tensors as the instance loaded them (the batch dimension as -1). */
export interface ModelSignature {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

/**
 * What an instance reports. Every call names the instance; task ids are the engine's. After
 * onDown the instance restarts by itself (onReady again) unless it gives up (onGaveUp).
 */
export interface InstanceEvents {
  onReady(inst: EngineInstance, signature: ModelSignature): void;
  /**
   * `output` is owned by the engine from here on. `injectedMs`: delay the instance added on
   * purpose (an injected fault or background disturbance), left out of its measured run time.
   * `sentAt`: when the instance sent the result, on the engine's clock (undefined where it cannot
   * say): the run time until then leaves out the result's wait for the engine's thread.
   */
  onResult(inst: EngineInstance, taskId: number, output: Float32Array, shape: number[], injectedMs?: number, sentAt?: number): void;
  /** The model ran and failed on this task; the instance itself is fine. */
  onTaskError(inst: EngineInstance, taskId: number, message: string): void;
  /** The instance died, hung or lost its connection; `taskIds` are the tasks it was running. */
  onDown(inst: EngineInstance, taskIds: number[], reason: string): void;
  /** The instance will not be restarted again (its model keeps failing to load). */
  onGaveUp(inst: EngineInstance, reason: string): void;
}

export interface EngineInstance {
  readonly id: string;
  readonly role: InstanceRole;
  readonly row: number;
  /** A remote instance's model endpoint URL; undefined for a local instance. */
  readonly backend: string | undefined;
  readonly state: InstanceState;
  /** Restarts so far. */
  readonly restarts: number;
  /** True once the instance stopped restarting. */
  readonly gaveUp: boolean;
  /** Tasks it can take now: 0 while starting, down, or running as many as it may. */
  readonly freeSlots: number;
  /** A run has lasted far longer than its recent runs (kept current by checkAlive). */
  readonly suspectedHung: boolean;
  /** Load the model; reports onReady (or onDown / onGaveUp). */
  start(): void;
  /** Run one task. Only called while freeSlots > 0. `input` may be a view on shared memory and `shape` is shared: both read only. */
  run(taskId: number, input: Float32Array, shape: number[]): void;
  /**
   * The engine no longer needs a running task's result (a reconstruction answered for it). An
   * instance that can stop the work (a remote request) aborts it, frees the slot at once, sends no
   * event for it and returns true; a local model run cannot be stopped: it returns false, and the
   * result comes as usual (and is discarded).
   */
  abandon(taskId: number): boolean;
  setFaults(faults: InstanceFault[]): void;
  disturb(d: Disturbance): void;
  /** Called periodically with the engine clock: a silent instance is declared hung and replaced. */
  checkAlive(now: number): void;
  health(): InstanceHealth;
  close(): Promise<void>;
}

/** Builds one instance; the pool calls it once per instance, in id order. */
export type InstanceFactory = (spec: InstanceSpec, events: InstanceEvents, clock: Clock) => EngineInstance;

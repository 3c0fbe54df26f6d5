// Messages between the engine (main thread) and one instance (worker thread or child process).
// One task runs at a time per instance; the engine sends the next only after a result or error,
// and stops an instance by terminating it (thread) or killing it (process).

/** A fault as one instance applies it (the engine resolves FaultSpec.instance before sending). */
export type InstanceFault =
  | { kind: 'delay'; ms: number; probability: number; distribution: 'fixed' | 'pareto' }
  | { kind: 'contention'; busyMs: number; periodMs: number }
  | { kind: 'crash'; afterQueries: number }
  | { kind: 'hang' };

/** A background-load disturbance, active for `forMs` from receipt (BackgroundLoadSpec). */
export interface Disturbance {
  kind: 'contention' | 'delay';
  /** `delay`: ms added to each run; `contention`: busy fraction 0..1 of the instance's thread. */
  intensity: number;
  forMs: number;
}

export type ToInstance =
  | { t: 'init'; modelPath: string; threads: number; heartbeatMs: number; nice: number; faults: InstanceFault[] }
  /** `input` is `batch * elements` floats, possibly a view on a SharedArrayBuffer (read only). */
  | { t: 'run'; taskId: number; input: Float32Array; shape: number[] }
  | { t: 'faults'; faults: InstanceFault[] }
  | { t: 'disturb'; disturbance: Disturbance }
  /** Stop: finish the run in progress (queued ones are dropped), release the session, exit. */
  | { t: 'close' };

export interface TensorMeta {
  name: string;
  /** Dimensions; symbolic ones (the batch dimension) as -1. */
  shape: number[];
  type: string;
}

export type FromInstance =
  /**
   * `warmupMs`: the one run on zeros before reporting ready (0 when it could not run). `tid`: the
   * OS thread id of the thread that runs the model (Linux; null elsewhere), for per-thread CPU.
   */
  | { t: 'ready'; inputs: TensorMeta[]; outputs: TensorMeta[]; warmupMs: number; tid: number | null }
  | { t: 'fatal'; message: string }
  /** `output` owns its buffer (transferred, not copied, from a worker thread). */
  /**
   * `injectedMs`: the delay the instance added (a delay fault or background disturbance), not the
   * model's time. `sentAt`: when the result was sent, ms on the shared time line
   * (`performance.timeOrigin + performance.now()`, which the threads of a process read alike,
   * within microseconds; a child process of the same host reads it off the same wall clock).
   */
  | { t: 'result'; taskId: number; output: Float32Array; shape: number[]; runMs: number; injectedMs: number; sentAt: number }
  | { t: 'error'; taskId: number; message: string }
  | { t: 'hb' };

// Public types of the serving engine: what a backend embedding `parm` and the network front see.
// The engine (src/engine/) implements them; the server (src/server/) and benchmarks consume them.

/** Redundancy mode. All four run in the same engine so that comparisons are one flag apart. */
export type Mode = 'none' | 'equal-resources' | 'hedged' | 'parm';

/** How k queries become one parity query. */
export type EncoderKind = 'sum' | 'concat';

/**
 * When a reconstruction may answer a query.
 * - `first`: whichever of original or reconstruction arrives first (the paper's default).
 * - `deadline`: wait for the original up to `waitMs` after the query was accepted, then use a
 *   reconstruction if one is available (or the first that arrives afterwards).
 */
export type DecodePolicy = { kind: 'first' } | { kind: 'deadline'; waitMs: number };

/** A tensor handed to `infer`: one query (no batch dimension) or a batch (leading dimension). */
export interface TensorInput {
  data: Float32Array;
  shape: readonly number[];
}

export interface InferOptions {
  decode?: DecodePolicy;
  /** Reject with PARM_ERR_ENGINE_TIMEOUT if no answer by then (ms from acceptance). */
  timeoutMs?: number;
  /**
   * The caller no longer wants the answer (its client cancelled, or went away): on abort the query
   * rejects with PARM_ERR_ENGINE_CANCELLED and its work still waiting in the queues is dropped
   * (work already running on an instance finishes and is discarded). An already aborted signal is
   * refused at admission.
   */
  signal?: AbortSignal;
  /**
   * The engine keeps the input's buffer instead of copying it (as a transfer list does): the
   * caller must not write to it afterwards. For a caller that built the tensor for this query
   * alone (the server, from the request's bytes); a view on part of a larger buffer is copied.
   */
  transferInput?: boolean;
}

export interface InferResult {
  output: Float32Array;
  /** Output shape of this query, e.g. [10] for one query or [n, 10] for a batch input. */
  shape: number[];
  /** True when the answer was decoded from a parity output rather than computed directly. */
  reconstructed: boolean;
  /** Milliseconds from acceptance to answer, measured in the engine. */
  latencyMs: number;
  /** Id of the instance that produced the original, or of the parity instance when reconstructed. */
  instance: string;
}

/**
 * A fault injected into one instance. Instance ids are `deployed-<i>` and `parity-<i>`; a bare
 * number `n` means `deployed-<n>`; `*` means every deployed instance.
 */
export type FaultSpec =
  | { kind: 'delay'; instance: string; ms: number; probability?: number; distribution?: 'fixed' | 'pareto' }
  | { kind: 'contention'; instance: string; busyMs: number; periodMs: number }
  | { kind: 'crash'; instance: string; afterQueries: number }
  | { kind: 'hang'; instance: string };

export interface BatchingOptions {
  maxBatch: number;
  maxDelayMs: number;
}

/**
 * A remote instance: the URL of an Open Inference Protocol v2 model endpoint,
 * http://HOST:PORT/v2/models/NAME[/versions/V] (Triton, a KServe v2 predictor, `parm worker`), or
 * that URL with per-backend settings. Each listed entry is one instance (list a URL twice for two
 * instances on one backend).
 */
export type BackendSpec =
  | string
  | {
      url: string;
      /** Requests in flight at once on this instance (default 1: the paper's pull model; more for servers that batch). */
      concurrency?: number;
      /** TCP connect timeout, ms (default 1000). */
      connectTimeoutMs?: number;
      /** A request unanswered this long fails the instance (default: adaptive, like hangTimeoutMs). */
      requestTimeoutMs?: number;
    };

export interface ParityModelSpec {
  /** Path to the parity model's ONNX file (local instances), or... */
  path?: string;
  /** ...the parity model's remote instances (exactly one of path and backends). */
  backends?: BackendSpec[];
  /** Coefficients w_1..w_k of this parity row (default all ones). */
  coefficients?: number[];
}

export interface EngineOptions {
  /** Deployment name, used as the OIP model name. */
  name: string;
  version?: string;
  /** Path to the deployed model's ONNX file (local instances; or deployedBackends). */
  deployedModel?: string;
  /** The deployed model's remote instances, one per entry (instead of deployedModel and instances). */
  deployedBackends?: BackendSpec[];
  /** r parity models (r = length); required for mode `parm`. */
  parityModels?: ParityModelSpec[];
  k?: number;
  encoder?: EncoderKind;
  mode?: Mode;
  /** Deployed-model instances (m) run locally from deployedModel (default 2). */
  instances?: number;
  /** Local parity-model instances per parity row given by path (default ceil(m / k)). */
  parityInstances?: number;
  isolation?: 'thread' | 'process';
  threadsPerSession?: number;
  balancing?: 'shared-queue' | 'round-robin';
  /**
   * Shared queue: the free instance that ran most recently takes the next task (its model is
   * still in the CPU's caches); false: the one idle longest (even spread). Default: true for a
   * pool of local instances, false for a pool with remote backends.
   */
  warmFirst?: boolean;
  /** How long a coding group may wait to fill before the partial-group policy applies. */
  groupWaitMs?: number;
  decode?: DecodePolicy;
  batching?: BatchingOptions | false;
  /** `hedged` mode: re-issue after this delay. */
  hedgeDelayMs?: number;
  faults?: FaultSpec[];
  background?: BackgroundLoadSpec;
  /**
   * Nice value (0..19) of parity instances' inference threads (default 10). Parity work is best
   * effort: where instances share CPU cores, it should yield to the originals it protects rather
   * than slow them. 0 runs parity at the same priority as the deployed model.
   */
  parityNice?: number;
  /**
   * How long a window's parity waits before it is encoded and run, and is run only if a member is
   * still unanswered then (or at once when a member's instance fails). 0: eager, every group's
   * parity at once (the paper's). Default: adaptive, 3 x the median of recent deployed run times,
   * at least 1 ms (src/engine/parity-start.ts).
   */
  parityDeferMs?: number;
  /** Queries accepted but not answered, beyond which `infer` rejects with PARM_ERR_ENGINE_OVERLOADED. */
  maxPending?: number;
  /**
   * What a coding group that did not fill within `groupWaitMs` gets (docs/engine.md):
   * `replicate` (default) pads the empty slots with copies of its own members and decodes with the
   * correspondingly summed coefficients; `unprotected` sends no parity for it.
   */
  partialGroup?: 'replicate' | 'unprotected';
  /**
   * An instance silent (no heartbeat, no result) this long is declared hung and restarted.
   * Default: adaptive, 20 x the instance's worst recent run time and at least 1000 ms (a run
   * past 4 x that worst time, and 100 ms, is reported as suspected hung first).
   */
  hangTimeoutMs?: number;
  /** How often an idle instance reports that it is alive. */
  heartbeatMs?: number;
  /** Re-issues of one query's work after instance failures before it is answered with an error. */
  maxRetries?: number;
  /** `close()` waits this long for in-flight queries, then answers the rest with PARM_ERR_ENGINE_CLOSED. */
  closeTimeoutMs?: number;
}

export interface ModelTensorInfo {
  name: string;
  datatype: 'FP32';
  /** Shape with -1 for the batch dimension, e.g. [-1, 1, 28, 28]. */
  shape: number[];
}

export interface ModelInfo {
  name: string;
  version: string;
  /** Triton's platform name for ONNX models (OIP platform names are `<project>_<format>`). */
  platform: 'onnxruntime_onnx';
  inputs: ModelTensorInfo[];
  outputs: ModelTensorInfo[];
}

export interface InstanceHealth {
  id: string;
  role: 'deployed' | 'parity';
  state: 'starting' | 'ready' | 'busy' | 'down' | 'restarting';
  restarts: number;
  /** Runs this instance finished with a result, since the engine started (restarts included). */
  completedRuns: number;
  inFlight: number;
  /** A run has taken far longer than this instance's recent runs: it may be hung (not yet declared). */
  suspectedHung: boolean;
  /** Median run time (ms) of its recent runs, 0 before any. */
  recentRunMs: number;
  /** Where it runs: the model server's URL for a remote instance; absent for local ones. */
  backend?: string;
  /** Remote instances: the circuit breaker (closed: serving; open: down; half-open: probing). */
  circuit?: 'closed' | 'open' | 'half-open';
  /** OS process id of the instance (isolation `process` only). */
  pid?: number;
  /** OS thread id of the thread running the model (local instances on Linux): per-thread CPU. */
  tid?: number;
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface EngineMetrics {
  queries: number;
  answered: number;
  reconstructions: number;
  lateOriginalsDiscarded: number;
  cancellations: number;
  retries: number;
  errors: number;
  restarts: number;
  queueDepth: { deployed: number; parity: number };
  /** Queries refused before acceptance (invalid input, overloaded, closed, not ready). */
  rejected: number;
  /** Hedged mode: duplicate tasks issued. */
  hedges: number;
  /** Coding groups formed, those that were partial (fewer than k members), and queries left without parity. */
  groups: number;
  partialGroups: number;
  unprotected: number;
  /** Queued parity work dropped because every member of its groups was already answered. */
  parityCancelled: number;
  /** Running remote requests aborted because a reconstruction had answered for them. */
  abandoned: number;
  /** Parity tasks never started: every member of their groups answered within parityDeferMs. */
  paritySkipped: number;
  instances: InstanceHealth[];
  /** Latency (ms) by how the answer was produced: `original`, `reconstructed`, and `all`. */
  latency: Record<string, LatencySummary>;
  /**
   * How long instances took per task, by role: tasks measured and the run time (ms) at each
   * probability of RUN_TIME_QUANTILES (src/engine/metrics.ts); what `parm simulate` is calibrated on.
   * `byIdle`: the same per idle class (RUN_IDLE_CLASSES_MS: how long the instance had been without
   * work before the run, below `idleBelowMs` and at or above the previous class's bound).
   */
  runTime: Record<'deployed' | 'parity', RunTimeSummary & { byIdle: IdleClassRunTimes[] }>;
  /**
   * The same run times until the instance sent its result (its output leaving the instance's
   * thread), without the result's wait for the engine's thread that `runTime` includes; counts
   * only the runs of instances that say when they sent (local instances and simulated ones, not
   * remote ones). What `parm simulate --main-thread` draws from, its own queue adding the wait.
   */
  runTimeSent: EngineMetrics['runTime'];
  /** The injected faults in force (options.faults, then the last setFaults), as validated; a copy. */
  faults: FaultSpec[];
}

/** Tasks measured, and their run time (ms) at each probability of RUN_TIME_QUANTILES (0 when none). */
export interface RunTimeSummary {
  count: number;
  quantiles: number[];
}

/** The run times of one idle class (RUN_IDLE_CLASSES_MS): quantiles, and the histogram a window's quantiles are read from. */
export interface IdleClassRunTimes extends RunTimeSummary {
  /** The class's upper bound (ms of idleness before the run; Infinity for the last). */
  idleBelowMs: number;
  /** Runs per bucket of RUN_TIME_BUCKETS_MS, not cumulative; one more entry than bounds, for runs above every bound. */
  buckets: number[];
  /** Sum of the class's run times, ms. */
  sumMs: number;
}

export interface Engine {
  readonly info: ModelInfo;
  readonly options: Readonly<EngineOptions>;
  /** Resolves once every instance has loaded its model. */
  ready(): Promise<void>;
  /**
   * Ready for traffic: loaded, not closing, and some deployed instance serving now (loaded, not
   * down, not suspected hung). `infer` does not require it: once loaded, a query waits for an
   * instance to come back rather than being refused.
   */
  isReady(): boolean;
  infer(input: Float32Array | TensorInput, options?: InferOptions): Promise<InferResult>;
  /** Replace the injected faults at run time. */
  setFaults(faults: FaultSpec[]): void;
  metrics(): EngineMetrics;
  /** Stop accepting, answer what is in flight, stop every instance. */
  close(): Promise<void>;
}

/**
 * Background load that moves between random instances over time (the paper's contention, in
 * spirit), driven by a seeded schedule so that every mode sees the same one. Every `periodMs` the
 * engine picks `width` random instances (from `targets`) and disturbs them for `duty * periodMs`.
 */
export interface BackgroundLoadSpec {
  seed: number;
  kind: 'contention' | 'delay';
  /** 1: one random instance at a time; 2: a random pair. */
  width: 1 | 2;
  periodMs: number;
  /** Fraction of each period that the disturbance lasts (0..1]. */
  duty: number;
  /** `delay`: ms added to each query the disturbed instance runs; `contention`: busy fraction 0..1 of its CPU. */
  intensity: number;
  targets?: 'all' | 'deployed';
}

// A fake Engine for the network front's unit tests: implements the Engine interface with a
// deterministic function of the input, so tests can predict every answer without a model.
import { ParmError } from '../../src/errors.js';
import { RUN_TIME_BUCKETS_MS, RUN_TIME_QUANTILES, runTimeBucket } from '../../src/engine/metrics.js';
import type { Engine, EngineMetrics, EngineOptions, FaultSpec, InferOptions, InferResult, ModelInfo, TensorInput } from '../../src/engine/types.js';

export const FAKE_INFO: ModelInfo = {
  name: 'fake',
  version: '1',
  platform: 'onnxruntime_onnx',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 1, 28, 28] }],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
};

/** Logit j of one 784-float query: sum of the query's elements times (j + 1). */
export function fakeLogits(query: Float32Array): Float32Array {
  let s = 0;
  for (const v of query) s += v;
  const out = new Float32Array(10);
  for (let j = 0; j < 10; j++) out[j] = Math.fround(s * (j + 1));
  return out;
}

export interface FakeEngineOptions {
  name?: string;
  /** Milliseconds each answer takes (default 0: next macrotask). */
  delayMs?: number;
  /** Mark answers as reconstructed. */
  reconstructed?: boolean;
  /** Start not ready; call markReady(). */
  startNotReady?: boolean;
  maxPending?: number;
  /** Floats per answer row (default 10), to make answers large in backpressure tests. */
  outputFloats?: number;
  /** Every query fails with this error after delayMs, as an engine error would. */
  failWith?: ParmError;
}

export class FakeEngine implements Engine {
  /** Like a real engine's: there once the models have loaded (markReady), undefined before. */
  get info(): ModelInfo {
    return (this.readyFlag ? this.loadedInfo : undefined) as ModelInfo;
  }
  readonly options: Readonly<EngineOptions>;
  calls = 0;
  /** Queries withdrawn through InferOptions.signal. */
  cancelled = 0;
  pending = 0;
  maxSeenPending = 0;
  closed = false;
  lastOptions: InferOptions | undefined;
  private readyFlag: boolean;
  private readonly loadedInfo: ModelInfo;
  private readyWaiters: Array<() => void> = [];

  constructor(private readonly opts: FakeEngineOptions = {}) {
    this.loadedInfo = { ...FAKE_INFO, name: opts.name ?? FAKE_INFO.name };
    this.options = { name: this.loadedInfo.name, deployedModel: '/dev/null' };
    this.readyFlag = !opts.startNotReady;
  }

  markReady(): void {
    this.readyFlag = true;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  ready(): Promise<void> {
    return this.readyFlag ? Promise.resolve() : new Promise((r) => this.readyWaiters.push(r));
  }

  isReady(): boolean {
    return this.readyFlag;
  }

  infer(input: Float32Array | TensorInput, options?: InferOptions): Promise<InferResult> {
    if (this.closed) return Promise.reject(new ParmError('PARM_ERR_ENGINE_CLOSED', 'closed'));
    if (!this.readyFlag) return Promise.reject(new ParmError('PARM_ERR_ENGINE_NOT_READY', 'not ready'));
    if (this.opts.maxPending !== undefined && this.pending >= this.opts.maxPending) {
      return Promise.reject(new ParmError('PARM_ERR_ENGINE_OVERLOADED', 'too many pending queries'));
    }
    this.calls++;
    this.lastOptions = options;
    this.pending++;
    this.maxSeenPending = Math.max(this.maxSeenPending, this.pending);
    const data = input instanceof Float32Array ? input : input.data;
    const batched = !(input instanceof Float32Array) && input.shape.length === 4;
    const n = batched ? (input as TensorInput).shape[0]! : 1;
    const width = this.opts.outputFloats ?? 10;
    const out = new Float32Array(width * n);
    for (let b = 0; b < n; b++) out.set(fakeLogits(data.subarray(b * 784, (b + 1) * 784)), b * width);
    const result: InferResult = {
      output: out,
      shape: batched ? [n, width] : [width],
      reconstructed: this.opts.reconstructed ?? false,
      latencyMs: this.opts.delayMs ?? 0,
      instance: 'deployed-0',
    };
    const signal = options?.signal;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending--;
        signal?.removeEventListener('abort', onAbort);
        if (this.opts.failWith) reject(this.opts.failWith);
        else resolve(result);
      }, this.opts.delayMs ?? 0);
      // Like the real engine: an abort rejects at once and the query is dropped.
      const onAbort = () => {
        clearTimeout(timer);
        this.pending--;
        this.cancelled++;
        reject(new ParmError('PARM_ERR_ENGINE_CANCELLED', 'the query was cancelled by its caller'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** What the last setFaults was given (no validation: the fake applies none of them). */
  faults: FaultSpec[] = [];

  setFaults(faults: FaultSpec[]): void {
    this.faults = faults.map((f) => ({ ...f }));
  }

  metrics(): EngineMetrics {
    return {
      queries: this.calls,
      answered: this.calls - this.pending,
      reconstructions: this.opts.reconstructed ? this.calls : 0,
      lateOriginalsDiscarded: 0,
      cancellations: 0,
      retries: 0,
      errors: 0,
      restarts: 0,
      queueDepth: { deployed: this.pending, parity: 0 },
      rejected: 0,
      hedges: 0,
      groups: 0,
      partialGroups: 0,
      unprotected: 0,
      parityCancelled: 0,
      abandoned: 0,
      paritySkipped: 0,
      instances: [{ id: 'deployed-0', role: 'deployed', state: 'ready', restarts: 0, completedRuns: this.calls - this.pending, inFlight: this.pending, suspectedHung: false, recentRunMs: 0 }],
      latency: { all: { count: this.calls, mean: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1 } },
      runTime: {
        deployed: {
          count: this.calls,
          quantiles: RUN_TIME_QUANTILES.map(() => 1),
          // A class with runs and one without (left out of /metrics).
          byIdle: [
            { idleBelowMs: 0.2, count: 0, quantiles: RUN_TIME_QUANTILES.map(() => 0), buckets: RUN_TIME_BUCKETS_MS.map(() => 0).concat(0), sumMs: 0 },
            // Three runs of 1 ms: in the first bucket at or above 1 ms.
            { idleBelowMs: Infinity, count: 3, quantiles: RUN_TIME_QUANTILES.map(() => 1), buckets: RUN_TIME_BUCKETS_MS.map((_, i) => (i === runTimeBucket(1) ? 3 : 0)).concat(0), sumMs: 3 },
          ],
        },
        parity: { count: 0, quantiles: RUN_TIME_QUANTILES.map(() => 0), byIdle: [] },
      },
      // As an engine of remote instances: no run says when its result was sent.
      runTimeSent: {
        deployed: { count: 0, quantiles: RUN_TIME_QUANTILES.map(() => 0), byIdle: [] },
        parity: { count: 0, quantiles: RUN_TIME_QUANTILES.map(() => 0), byIdle: [] },
      },
      faults: this.faults.map((f) => ({ ...f })),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

// The serving engine's facade: builds the parts (instance pool, scheduler, batcher, coding window,
// parity coding, recovery, query book) from the options and delegates to them. A query's walk:
// admission -> QueryBook -> Batcher -> Scheduler (data task) and, in parm mode, CodingWindow ->
// ParityCoding (parity task) -> instances -> ResultRouter -> QueryBook (exactly one answer).
import { ParmError } from '../errors.js';
import { Admission, type AdmissionView } from './admission.js';
import { startBackground } from './background.js';
import { Batcher } from './batcher.js';
import { realClock, type Clock } from './clock.js';
import { CodingWindow } from './coding-window.js';
import { nativeCodec, type EngineCodec } from './engine-codec.js';
import { faultsFor, validateFaults } from './faults.js';
import type { EngineInstance, InstanceFactory, ModelSignature } from './instance.js';
import { InstancePool } from './instance-pool.js';
import { defaultInstanceFactory } from './local-instance.js';
import type { EngineLogger } from './logger.js';
import { Counters, Latencies, RunTimes, snapshot } from './metrics.js';
import { checkSignatures, type ModelShape } from './model-signature.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import { ParityCoding } from './parity-coding.js';
import { ParityStart } from './parity-start.js';
import { QueryBook } from './query.js';
import { Recovery } from './recovery.js';
import { ResultRouter } from './result-router.js';
import { Scheduler } from './scheduler.js';
import { TaskTable } from './task.js';
import type { Engine, EngineMetrics, EngineOptions, FaultSpec, InferOptions, InferResult, ModelInfo, TensorInput } from './types.js';

export type { EngineLogger } from './logger.js';

export interface EngineRuntime {
  logger?: EngineLogger;
  /** Base directory for relative model paths (default: the current directory). */
  baseDir?: string;
  /** Builds each instance (default: onnxruntime sessions on this host, or remote OIP endpoints for backends). */
  instanceFactory?: InstanceFactory;
  /** Time source (default: the real clock). */
  clock?: Clock;
  /** Coding arithmetic (default: the native addon). */
  codec?: EngineCodec;
}

/** The query pipeline, built when the models have loaded (its shapes come from them). */
interface Pipeline {
  book: QueryBook;
  batcher: Batcher;
  window: CodingWindow | null;
  parityStart: ParityStart | null;
  recovery: Recovery;
}

export class ParmEngine implements Engine {
  readonly options: Readonly<EngineOptions>;
  /** The served model's description; set when the models have loaded. */
  info!: ModelInfo;
  private readonly o: ResolvedOptions;
  private readonly log: EngineLogger | undefined;
  private readonly clock: Clock;
  private readonly codec: EngineCodec;
  private readonly counters = new Counters();
  private readonly latencies = new Latencies();
  private readonly runTimes = new RunTimes();
  private readonly sentRunTimes = new RunTimes();
  private readonly tasks: TaskTable;
  private readonly pool: InstancePool;
  private readonly scheduler: Scheduler;
  private readonly router: ResultRouter;
  /** Filled in place when the models have loaded; every part holds this object. */
  private readonly shape: ModelShape = { info: undefined as unknown as ModelInfo, sample: [], output: [], elements: 0, outElements: 0 };
  private pipeline: Pipeline | null = null;
  private readonly admission: Admission;
  /** What admission reads of this engine, per call. */
  private readonly view: AdmissionView;
  /** The faults in force (options.faults, then setFaults). */
  private faults: FaultSpec[];
  private readyFlag = false;
  private closing = false;
  private readonly readyPromise: Promise<void>;
  private closePromise: Promise<void> | null = null;
  private stopBackground: (() => void) | null = null;

  constructor(options: EngineOptions, runtime: EngineRuntime = {}) {
    this.o = resolveOptions(options, runtime.baseDir);
    this.options = Object.freeze({ ...options });
    this.log = runtime.logger;
    this.clock = runtime.clock ?? realClock;
    this.codec = runtime.codec ?? nativeCodec;
    this.faults = this.o.faults;
    this.tasks = new TaskTable(this.clock);
    this.router = new ResultRouter(this.counters, this.runTimes, this.sentRunTimes, this.clock, this.log);
    this.pool = new InstancePool(this.o, runtime.instanceFactory ?? defaultInstanceFactory, this.clock, this.router, this.log);
    this.scheduler = new Scheduler(this.o, this.pool, this.shape, this.clock, this.counters, this.tasks);
    this.router.base = { pool: this.pool, scheduler: this.scheduler, tasks: this.tasks };
    this.admission = new Admission(this.o.maxPending, this.o.decode, this.shape.sample, this.codec.firstNonFinite);
    const engine = this;
    this.view = {
      get closing() {
        return engine.closing;
      },
      get loaded() {
        return engine.readyFlag && engine.pipeline !== null;
      },
      allDeployedGaveUp: () => this.pool.allDeployedGaveUp(),
      get pending() {
        return engine.pipeline?.book.pending ?? 0;
      },
    };
    this.readyPromise = this.start();
    this.readyPromise.catch(() => undefined);
  }

  private async start(): Promise<void> {
    await this.pool.start();
    // The first loaded instance of each role defines the deployment; the others must match it.
    const first = (list: readonly EngineInstance[]): ModelSignature => list.map((i) => this.pool.signature(i)).find((x) => x !== undefined)!;
    const deployedSig = first(this.pool.deployed);
    const paritySigs = this.pool.parity.map(first);
    const sig = checkSignatures(this.o, deployedSig, paritySigs);
    this.pool.expect(deployedSig, paritySigs);
    // In place: the parts hold this object (and admission its sample array).
    this.shape.sample.push(...sig.sample);
    Object.assign(this.shape, { ...sig, sample: this.shape.sample });
    this.info = sig.info;
    this.pipeline = this.buildPipeline();
    this.readyFlag = true;
    if (this.o.background) this.stopBackground = startBackground(this.o.background, this.pool.deployed, this.pool.parity.flat(), this.clock);
    this.scheduler.activate();
  }

  private buildPipeline(): Pipeline {
    const { o, scheduler, tasks, counters, clock } = this;
    const book = new QueryBook(clock, this.shape, counters, this.latencies, {
      unitAnswered: (u, reconstructed) => {
        scheduler.unitAnswered(u);
        if (u.group && !reconstructed) scheduler.cancelParity(u.group);
      },
      querySettled: (q) => {
        for (const u of q.units) {
          scheduler.unitAnswered(u);
          if (u.group) scheduler.cancelParity(u.group);
        }
      },
    });
    const rows = o.parityModels.map((p) => p.coefficients);
    const coding = new ParityCoding({ k: o.k, encoder: o.encoder, rows }, this.shape, this.codec, clock, counters, book, tasks, scheduler, (row) => this.pool.rowUp(row), this.log);
    const parityStart =
      o.mode === 'parm'
        ? new ParityStart(o.parityDeferMs, clock, counters, rows.length, (w) => {
            coding.protect(w);
            scheduler.pump();
          })
        : null;
    const recovery = new Recovery(o.maxRetries, this.shape, counters, book, tasks, scheduler, (u) => parityStart?.memberFailed(u));
    const window = parityStart ? new CodingWindow({ k: o.k, groupWaitMs: o.groupWaitMs, partialGroup: o.partialGroup, rows }, clock, counters, (w) => parityStart.closed(w)) : null;
    const batcher = new Batcher(o.batching, clock, (closed) => {
      // Queries settled while their units waited to be batched (cancelled, timed out) need no run.
      const units = closed.filter((u) => !u.query.answered);
      if (units.length === 0) return;
      const t = tasks.data(units, this.shape.elements, 0);
      scheduler.enqueue(t, false);
      window?.add(units, t.input);
      scheduler.pump();
    });
    this.router.coding = { shape: this.shape, book, coding, recovery, parityStart };
    return { book, batcher, window, parityStart, recovery };
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Ready for traffic (the health endpoints): loaded, not closing, and some deployed instance
   * serving now (loaded, not down, not suspected hung). A query sent while this is false is
   * still accepted once loaded: it waits for an instance to come back.
   */
  isReady(): boolean {
    return this.readyFlag && !this.closing && this.pool.deployedServing();
  }

  infer(input: Float32Array | TensorInput, options: InferOptions = {}): Promise<InferResult> {
    const p = this.pipeline;
    let a;
    try {
      a = this.admission.admit(input, options, this.view);
    } catch (e) {
      this.counters.rejected++;
      return Promise.reject(e);
    }
    const { timeoutMs, signal } = a;
    return new Promise<InferResult>((resolve, reject) => {
      // With a signal, the abort listener lives exactly as long as the query: settling removes it.
      // Without one (nearly every query), no wrapper is made.
      const onAbort = signal && (() => p!.book.cancel(q, new ParmError('PARM_ERR_ENGINE_CANCELLED', 'the query was cancelled by its caller')));
      const settled = <T>(f: (v: T) => void) => (!signal ? f : (v: T) => {
        signal.removeEventListener('abort', onAbort!);
        f(v);
      });
      const q = p!.book.accept(a.data, a.n, a.batched, a.decode, timeoutMs, settled(resolve), settled(reject), a.transfer);
      if (onAbort) signal.addEventListener('abort', onAbort, { once: true });
      p!.batcher.add(q.units);
      this.scheduler.pump();
    });
  }

  setFaults(faults: FaultSpec[]): void {
    this.faults = validateFaults('faults', faults);
    for (const inst of this.pool.all) inst.setFaults(faultsFor(this.faults, inst.id, inst.role));
  }

  metrics(): EngineMetrics {
    return snapshot(this.counters, this.scheduler.depth(), this.pool.all.map((i) => i.health()), this.latencies.summary(), this.runTimes.summary(), this.sentRunTimes.summary(), this.faults);
  }

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  /** Stop accepting, flush what waits, give in-flight queries closeTimeoutMs, then stop the instances. */
  private async doClose(): Promise<void> {
    this.closing = true;
    this.scheduler.closing = true;
    this.stopBackground?.();
    const p = this.pipeline;
    if (p) {
      p.batcher.flush();
      this.scheduler.pump();
      if (p.book.pending > 0) {
        let timer: ReturnType<Clock['setTimeout']> | undefined;
        const timeout = new Promise<void>((r) => (timer = this.clock.setTimeout(r, this.o.closeTimeoutMs)));
        await Promise.race([p.book.drained(), timeout]);
        this.clock.clearTimeout(timer);
      }
      p.book.failAll(new ParmError('PARM_ERR_ENGINE_CLOSED', 'the engine closed before this query was answered'));
      p.recovery.closed = true;
      p.batcher.dispose();
      p.book.dispose();
      p.window?.dispose();
      p.parityStart?.dispose();
    }
    this.readyFlag = false;
    await this.pool.close();
  }
}

/** Start an engine and wait until every instance has loaded its model. */
export async function createEngine(options: EngineOptions, runtime: EngineRuntime = {}): Promise<Engine> {
  const e = new ParmEngine(options, runtime);
  try {
    await e.ready();
  } catch (cause) {
    await e.close();
    throw cause;
  }
  return e;
}

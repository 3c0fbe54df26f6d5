// The model repository extension over the deployments of the config: each deployment sits in a
// slot (an Engine that forwards to the engine it holds now), so that unload can drain and stop
// that engine and load can start a fresh one from the same options while routes, streams and
// metrics keep the one object they looked up. The index says READY / UNAVAILABLE with a reason.
import { ParmError } from '../errors.js';
import type { Engine, EngineMetrics, EngineOptions, FaultSpec, InferOptions, InferResult, ModelInfo, TensorInput } from '../engine/types.js';

/** Builds an engine for a deployment's options (load after an unload). */
export type EngineFactory = (options: EngineOptions) => Engine;

/** Where a deployment is in its load / unload cycle. */
export type SlotPhase = 'loading' | 'loaded' | 'unloading' | 'unloaded' | 'failed';

export interface RepositoryEntry {
  name: string;
  version: string;
  state: 'READY' | 'UNAVAILABLE';
  /** Empty when READY. */
  reason: string;
}

export class DeploymentSlot implements Engine {
  readonly options: Readonly<EngineOptions>;
  /** The engine serving now, or the last one (stopped) while unloaded: its metrics stay readable. */
  private engine: Engine;
  private phaseValue: SlotPhase = 'loading';
  /** Why the last load failed. */
  private failure = '';
  /** The load or unload in progress; the next one waits for it. */
  private transition: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    engine: Engine,
    private readonly factory: EngineFactory | undefined,
  ) {
    this.options = engine.options;
    this.engine = engine;
    // An engine that has loaded already serves from the first request on.
    if ((engine.info as ModelInfo | undefined) !== undefined) this.phaseValue = 'loaded';
    this.watchLoad(engine);
  }

  get phase(): SlotPhase {
    return this.phaseValue;
  }

  /** Undefined unless loaded: admission then refuses with the reason (ServerContext.admit). */
  get info(): ModelInfo {
    return (this.phaseValue === 'loaded' ? this.engine.info : undefined) as ModelInfo;
  }

  /** Why the deployment cannot take requests now (empty when it can). */
  get reason(): string {
    switch (this.phaseValue) {
      case 'loading':
        return 'loading';
      case 'unloading':
        return 'unloading';
      case 'unloaded':
        return `unloaded (POST /v2/repository/models/${this.options.name}/load to load it)`;
      case 'failed':
        return `failed to load: ${this.failure}`;
      case 'loaded':
        return this.engine.isReady() ? '' : 'no deployed instance is serving now (restarting)';
    }
  }

  ready(): Promise<void> {
    return this.engine.ready();
  }

  isReady(): boolean {
    return this.phaseValue === 'loaded' && this.engine.isReady();
  }

  infer(input: Float32Array | TensorInput, options?: InferOptions): Promise<InferResult> {
    if (this.phaseValue !== 'loaded') {
      return Promise.reject(new ParmError('PARM_ERR_SERVER_NOT_READY', `model '${this.options.name}' is not ready: ${this.reason}`));
    }
    return this.engine.infer(input, options);
  }

  setFaults(faults: FaultSpec[]): void {
    this.engine.setFaults(faults);
  }

  metrics(): EngineMetrics {
    return this.engine.metrics();
  }

  /** Drains and stops the engine (in-flight queries get up to its closeTimeoutMs); idempotent. */
  unload(): Promise<void> {
    return this.serialize(async () => {
      if (this.phaseValue === 'unloaded') return;
      this.phaseValue = 'unloading';
      await this.engine.close();
      this.phaseValue = 'unloaded';
    });
  }

  /** Starts a fresh engine from the same options unless one is loaded; resolves once it has loaded. */
  load(): Promise<void> {
    return this.serialize(async () => {
      if (this.phaseValue === 'loaded' || this.phaseValue === 'loading') {
        await this.engine.ready();
        return;
      }
      if (this.closed) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
      if (!this.factory) throw new ParmError('PARM_ERR_SERVER_CONFIG', `model '${this.options.name}' cannot be loaded again: the server was started without an engine factory`);
      if (this.phaseValue === 'failed') await this.engine.close();
      const next = this.factory({ ...this.options });
      this.engine = next;
      this.phaseValue = 'loading';
      this.watchLoad(next);
      await next.ready();
    });
  }

  /** Stops the engine for good (server shutdown). */
  close(): Promise<void> {
    this.closed = true;
    return this.serialize(() => this.engine.close());
  }

  private watchLoad(e: Engine): void {
    e.ready().then(
      () => {
        if (this.engine === e && this.phaseValue === 'loading') this.phaseValue = 'loaded';
      },
      (err: unknown) => {
        if (this.engine !== e || this.phaseValue !== 'loading') return;
        this.phaseValue = 'failed';
        this.failure = err instanceof Error ? err.message : String(err);
      },
    );
  }

  /** Runs load, unload and close one after another, never two at once. */
  private serialize(step: () => Promise<void>): Promise<void> {
    const run = this.transition.then(step);
    this.transition = run.catch(() => undefined);
    return run;
  }
}

/** The deployments as slots, by name, and the repository index. */
export class ModelRepository {
  readonly slots: ReadonlyMap<string, DeploymentSlot>;

  constructor(engines: ReadonlyMap<string, Engine>, factory: EngineFactory | undefined) {
    const slots = new Map<string, DeploymentSlot>();
    for (const [name, e] of engines) slots.set(name, new DeploymentSlot(e, factory));
    this.slots = slots;
  }

  /** The slot of a deployment, or PARM_ERR_SERVER_NOT_FOUND. */
  get(name: string): DeploymentSlot {
    const s = this.slots.get(name);
    if (!s) throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown model '${name}'`);
    return s;
  }

  /** Every deployment and its state; `readyOnly` keeps the READY ones. */
  index(readyOnly = false): RepositoryEntry[] {
    const out: RepositoryEntry[] = [];
    for (const s of this.slots.values()) {
      const ready = s.isReady();
      if (readyOnly && !ready) continue;
      out.push({ name: s.options.name, version: s.options.version || '1', state: ready ? 'READY' : 'UNAVAILABLE', reason: ready ? '' : s.reason });
    }
    return out;
  }

  /** Server readiness: every deployment that is meant to be loaded (not unloaded on request) is ready. */
  allReady(): boolean {
    for (const s of this.slots.values()) if (s.phase !== 'unloaded' && !s.isReady()) return false;
    return true;
  }
}

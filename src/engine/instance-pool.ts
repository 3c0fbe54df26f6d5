// The instance pool: builds the deployed and parity instances (local or remote) through an
// InstanceFactory, waits for them to load, keeps and checks their signatures, checks
// periodically that none has gone silent, and stops them all. Instances' events go on to the
// engine's handlers.
import { ParmError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';
import { faultsFor } from './faults.js';
import type { EngineInstance, InstanceEvents, InstanceFactory, InstanceSpec, ModelSignature } from './instance.js';
import type { EngineLogger } from './logger.js';
import { deployedInstanceCount, parityRowCount, type ResolvedOptions } from './options.js';
import type { RemoteBackend } from './remote-instance.js';

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Why `got` cannot serve where `want` does (first input and output: name, type, shape), or null. */
export function signatureMismatch(want: ModelSignature, got: ModelSignature): string | null {
  for (const [what, a, b] of [['input', want.inputs[0], got.inputs[0]], ['output', want.outputs[0], got.outputs[0]]] as const) {
    if (!b) return `it has no ${what}`;
    if (!a) continue;
    if (a.type !== b.type || !sameShape(a.shape, b.shape)) return `its ${what} '${b.name}' is ${b.type} [${b.shape}], the deployment's is ${a.type} [${a.shape}]`;
  }
  return null;
}

export class InstancePool {
  /** Deployed-model instances, by index (`deployed-<i>`). */
  readonly deployed: EngineInstance[] = [];
  /** Parity instances per parity row (`parity-<j>`, j counting across rows). */
  readonly parity: EngineInstance[][] = [];
  /** Deployed, then parity instances row by row. */
  readonly all: EngineInstance[] = [];
  /** The signature each instance reported when it last loaded its model. */
  private readonly signatures = new Map<EngineInstance, ModelSignature>();
  /** Settles start(): set by start(), cleared once it resolved or rejected. */
  private startWaiter: { resolve(): void; reject(e: Error): void } | null = null;
  /** Remote instances that tried to start once (up or not): start() does not wait for more. */
  private readonly attempted = new Set<EngineInstance>();
  /** The signature every instance of a role must have, fixed by the engine when it starts. */
  private expected: { deployed: ModelSignature; parity: ModelSignature[] } | null = null;
  private aliveTimer: TimerHandle | null = null;
  /** Deployed instances that gave up (onGaveUp). */
  private deployedGaveUp = 0;
  private closed = false;

  constructor(
    private readonly o: ResolvedOptions,
    factory: InstanceFactory,
    private readonly clock: Clock,
    /** The engine's handlers; every event is forwarded after the pool's own bookkeeping. */
    private readonly handlers: InstanceEvents,
    private readonly log: EngineLogger | undefined,
  ) {
    const events = this.events();
    const spec = (id: string, role: 'deployed' | 'parity', row: number, modelPath: string | undefined, backend: RemoteBackend | undefined): InstanceSpec => ({
      id,
      role,
      row,
      modelPath,
      backend,
      threads: o.threadsPerSession,
      isolation: o.isolation,
      heartbeatMs: o.heartbeatMs,
      hangTimeoutMs: o.hangTimeoutMs,
      nice: role === 'parity' ? o.parityNice : 0,
      maxStartFailures: 5,
      faults: faultsFor(o.faults, id, role),
    });
    for (let i = 0; i < deployedInstanceCount(o); i++) {
      this.deployed.push(factory(spec(`deployed-${i}`, 'deployed', 0, o.deployedModel, o.deployedBackends?.[i]), events, clock));
    }
    if (o.mode === 'parm') {
      let j = 0;
      o.parityModels.forEach((p, row) => {
        const list: EngineInstance[] = [];
        for (let i = 0; i < parityRowCount(o, p); i++) list.push(factory(spec(`parity-${j++}`, 'parity', row, p.path, p.backends?.[i]), events, clock));
        this.parity.push(list);
      });
    }
    this.all.push(...this.deployed, ...this.parity.flat());
  }

  /**
   * Starts every instance. Resolves once every local instance has loaded its model, every remote
   * one has been tried once, and at least one deployed instance and one of each parity row are up
   * (remote ones that are not keep retrying and join when they come); rejects if a local instance
   * gives up first.
   */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.startWaiter = { resolve, reject }));
    for (const inst of this.all) inst.start();
    return started.then(() => this.startAliveChecks());
  }

  /** The signature a loaded instance reported (undefined before it loaded once). */
  signature(inst: EngineInstance): ModelSignature | undefined {
    return this.signatures.get(inst);
  }

  /**
   * Fixes the signature of each role (from the engine's checked deployment) and checks every
   * instance loaded so far against it; a remote instance that differs is refused, naming its URL.
   */
  expect(deployed: ModelSignature, parity: ModelSignature[]): void {
    this.expected = { deployed, parity };
    for (const inst of this.all) {
      const sig = this.signatures.get(inst);
      const why = sig && signatureMismatch(this.expectedFor(inst), sig);
      if (why) throw new ParmError('PARM_ERR_ENGINE_CONFIG', `${inst.backend ?? inst.id} cannot serve as ${inst.id}: ${why}`);
    }
  }

  /** A parity row can still produce outputs: not every one of its instances gave up. */
  rowUp(row: number): boolean {
    return !this.parity[row]!.every((i) => i.gaveUp);
  }

  /** Some deployed instance can serve now: loaded, not down, not suspected hung. */
  deployedServing(): boolean {
    return this.deployed.some((i) => (i.state === 'ready' || i.state === 'busy') && !i.suspectedHung);
  }

  /** Every deployed instance stopped restarting (counted as they give up: admission asks per query). */
  allDeployedGaveUp(): boolean {
    return this.deployedGaveUp === this.deployed.length;
  }

  /** Stops the alive checks and every instance; a start still awaited rejects. */
  async close(): Promise<void> {
    this.closed = true;
    this.clock.clearTimeout(this.aliveTimer);
    this.settleStart(new ParmError('PARM_ERR_ENGINE_CLOSED', 'the engine closed while starting'));
    await Promise.all(this.all.map((i) => i.close()));
  }

  private expectedFor(inst: EngineInstance): ModelSignature {
    const e = this.expected!;
    return inst.role === 'deployed' ? e.deployed : e.parity[inst.row]!;
  }

  /** Resolves (no error) or rejects start() once. */
  private settleStart(err?: Error): void {
    const w = this.startWaiter;
    if (!w) return;
    this.startWaiter = null;
    if (err) w.reject(err);
    else w.resolve();
  }

  /** While starting: resolve once every instance is settled and every role has one loaded. */
  private checkStarted(): void {
    if (!this.startWaiter) return;
    const settled = (i: EngineInstance): boolean => this.signatures.has(i) || (i.backend !== undefined && this.attempted.has(i));
    const loaded = (list: readonly EngineInstance[]): boolean => list.some((i) => this.signatures.has(i));
    if (this.all.every(settled) && loaded(this.deployed) && this.parity.every(loaded)) this.settleStart();
  }

  private startAliveChecks(): void {
    const every = Math.max(10, Math.min(this.o.heartbeatMs, (this.o.hangTimeoutMs ?? 1000) / 4));
    const tick = (): void => {
      if (this.closed) return;
      const now = this.clock.now();
      for (const inst of this.all) inst.checkAlive(now);
      this.aliveTimer = this.clock.setTimeout(tick, every, true);
    };
    this.aliveTimer = this.clock.setTimeout(tick, every, true);
  }

  private events(): InstanceEvents {
    const h = this.handlers;
    return {
      onReady: (inst, signature) => {
        // A remote backend that comes (back) with another model is refused, not scheduled.
        const why = this.expected && signatureMismatch(this.expectedFor(inst), signature);
        if (why) {
          this.log?.error({ instance: inst.id, backend: inst.backend, reason: why }, 'instance refused: its model does not match the deployment');
          void inst.close();
          return;
        }
        this.signatures.set(inst, signature);
        h.onReady(inst, signature);
        this.checkStarted();
      },
      onResult: (inst, taskId, output, shape, injectedMs, sentAt) => h.onResult(inst, taskId, output, shape, injectedMs, sentAt),
      onTaskError: (inst, taskId, message) => h.onTaskError(inst, taskId, message),
      onDown: (inst, taskIds, reason) => {
        if (inst.backend !== undefined && this.startWaiter) {
          this.attempted.add(inst);
          this.log?.warn({ instance: inst.id, backend: inst.backend, reason }, 'remote instance not reachable at start; retrying in the background');
        }
        h.onDown(inst, taskIds, reason);
        this.checkStarted();
      },
      onGaveUp: (inst, reason) => {
        if (inst.role === 'deployed') this.deployedGaveUp++;
        if (this.startWaiter) {
          this.settleStart(new ParmError('PARM_ERR_ENGINE_MODEL', `instance ${inst.id} could not start: ${reason}`));
          return;
        }
        h.onGaveUp(inst, reason);
      },
    };
  }
}

// The instance pool: builds the deployed and parity instances through an InstanceFactory, waits
// for every one to load its model, keeps their signatures, checks periodically that none has
// gone silent, and stops them all. Instances' events go on to the engine's handlers.
import { ParmError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';
import { faultsFor } from './faults.js';
import type { EngineInstance, InstanceEvents, InstanceFactory, InstanceSpec, ModelSignature } from './instance.js';
import { deployedInstanceCount, type ResolvedOptions } from './options.js';

export class InstancePool {
  /** Deployed-model instances, by index (`deployed-<i>`). */
  readonly deployed: EngineInstance[] = [];
  /** Parity instances per parity row (`parity-<j>`, j counting across rows). */
  readonly parity: EngineInstance[][] = [];
  /** Deployed, then parity instances row by row. */
  readonly all: EngineInstance[] = [];
  /** The signature each instance reported when it last loaded its model. */
  private readonly signatures = new Map<EngineInstance, ModelSignature>();
  /** Instances whose first start is awaited by start(). */
  private readonly starting = new Map<EngineInstance, { resolve(): void; reject(e: Error): void }>();
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
  ) {
    const events = this.events();
    const spec = (id: string, role: 'deployed' | 'parity', row: number, modelPath: string): InstanceSpec => ({
      id,
      role,
      row,
      modelPath,
      threads: o.threadsPerSession,
      isolation: o.isolation,
      heartbeatMs: o.heartbeatMs,
      hangTimeoutMs: o.hangTimeoutMs,
      nice: role === 'parity' ? o.parityNice : 0,
      maxStartFailures: 5,
      faults: faultsFor(o.faults, id, role),
    });
    for (let i = 0; i < deployedInstanceCount(o); i++) this.deployed.push(factory(spec(`deployed-${i}`, 'deployed', 0, o.deployedModel), events, clock));
    if (o.mode === 'parm') {
      o.parityModels.forEach((p, row) => {
        const list: EngineInstance[] = [];
        for (let i = 0; i < o.parityInstances; i++) list.push(factory(spec(`parity-${row * o.parityInstances + i}`, 'parity', row, p.path), events, clock));
        this.parity.push(list);
      });
    }
    this.all.push(...this.deployed, ...this.parity.flat());
  }

  /** Starts every instance; resolves once each has loaded its model, rejects if one gives up first. */
  start(): Promise<void> {
    const started = this.all.map((inst) => new Promise<void>((resolve, reject) => this.starting.set(inst, { resolve, reject })));
    for (const inst of this.all) inst.start();
    return Promise.all(started).then(() => this.startAliveChecks());
  }

  signature(inst: EngineInstance): ModelSignature {
    return this.signatures.get(inst)!;
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
    for (const [, s] of this.starting) s.reject(new ParmError('PARM_ERR_ENGINE_CLOSED', 'the engine closed while starting'));
    this.starting.clear();
    await Promise.all(this.all.map((i) => i.close()));
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
        this.signatures.set(inst, signature);
        const s = this.starting.get(inst);
        this.starting.delete(inst);
        s?.resolve();
        h.onReady(inst, signature);
      },
      onResult: (inst, taskId, output, shape) => h.onResult(inst, taskId, output, shape),
      onTaskError: (inst, taskId, message) => h.onTaskError(inst, taskId, message),
      onDown: (inst, taskIds, reason) => h.onDown(inst, taskIds, reason),
      onGaveUp: (inst, reason) => {
        if (inst.role === 'deployed') this.deployedGaveUp++;
        const s = this.starting.get(inst);
        if (s) {
          this.starting.delete(inst);
          s.reject(new ParmError('PARM_ERR_ENGINE_MODEL', `instance ${inst.id} could not start: ${reason}`));
          return;
        }
        h.onGaveUp(inst, reason);
      },
    };
  }
}

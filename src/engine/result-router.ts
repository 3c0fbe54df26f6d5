// Routes what instances report to the coding state: originals to their units, parity outputs to
// their groups, failed runs and lost instances to recovery, and frees instances for new work.
import { ParmError } from '../errors.js';
import type { Group } from './coding-window.js';
import type { EngineInstance, InstanceEvents } from './instance.js';
import type { InstancePool } from './instance-pool.js';
import type { EngineLogger } from './logger.js';
import type { Clock } from './clock.js';
import type { Counters, RunTimes } from './metrics.js';
import type { ModelShape } from './model-signature.js';
import type { ParityCoding } from './parity-coding.js';
import type { ParityStart } from './parity-start.js';
import type { QueryBook, Unit } from './query.js';
import type { Recovery } from './recovery.js';
import type { Scheduler } from './scheduler.js';
import type { Task, TaskTable } from './task.js';

/** The parts that exist from construction on. */
export interface RouterBase {
  pool: InstancePool;
  scheduler: Scheduler;
  tasks: TaskTable;
}

/** The parts that exist once the models have loaded (no task runs before). */
export interface RouterCoding {
  shape: ModelShape;
  book: QueryBook;
  coding: ParityCoding;
  recovery: Recovery;
  /** parm mode: learns how long originals take, for the deferral of parity. */
  parityStart: ParityStart | null;
}

export class ResultRouter implements InstanceEvents {
  /** Set by the engine right after the pool and scheduler are built, before any instance starts. */
  base!: RouterBase;
  /** Set by the engine when the models have loaded. */
  coding: RouterCoding | null = null;

  constructor(
    private readonly counters: Counters,
    private readonly runTimes: RunTimes,
    /** Run times until the instance sent its result, where it says when (EngineInstance onResult's `sentAt`). */
    private readonly sentRunTimes: RunTimes,
    private readonly clock: Clock,
    private readonly log: EngineLogger | undefined,
  ) {}

  onReady(inst: EngineInstance): void {
    if (inst.restarts > 0) this.log?.info({ instance: inst.id, restarts: inst.restarts }, 'instance restarted');
    this.freed(inst);
  }

  onResult(inst: EngineInstance, taskId: number, output: Float32Array, shape: number[], injectedMs = 0, sentAt?: number): void {
    const t = this.base.tasks.get(taskId);
    const c = this.coding;
    if (t && c) {
      this.base.tasks.finish(t);
      const ranMs = this.clock.now() - t.startedAt - injectedMs;
      this.runTimes.record(t.role, ranMs, t.idleMs);
      if (sentAt !== undefined) this.sentRunTimes.record(t.role, Math.max(0, Math.min(ranMs, sentAt - t.startedAt - injectedMs)), t.idleMs);
      if (t.role === 'deployed') c.parityStart?.observe(ranMs);
      const O = c.shape.outElements;
      try {
        if (output.length !== t.batch * O) {
          c.recovery.taskFailed(t, inst, `output has ${output.length} floats for shape [${shape}], expected ${t.batch * O}`, 'PARM_ERR_ENGINE_MODEL');
        } else if (t.role === 'deployed') {
          t.units.forEach((u, i) => this.onOriginal(c, u, output.subarray(i * O, (i + 1) * O), inst.id));
        } else {
          t.groups.forEach((g, i) => this.onParity(c, g, t.row, output.subarray(i * O, (i + 1) * O), inst.id));
        }
      } catch (e) {
        this.internalError(c, t, e);
      }
    }
    this.freed(inst);
  }

  onTaskError(inst: EngineInstance, taskId: number, message: string): void {
    const t = this.base.tasks.get(taskId);
    if (t && this.coding) {
      this.base.tasks.finish(t);
      this.coding.recovery.taskFailed(t, inst, `model run failed: ${message}`, 'PARM_ERR_ENGINE_MODEL');
    }
    this.freed(inst);
  }

  onDown(inst: EngineInstance, taskIds: number[], reason: string): void {
    this.counters.restarts++;
    this.log?.warn({ instance: inst.id, reason, tasks: taskIds }, 'instance down, restarting');
    this.base.scheduler.instanceDown(inst);
    for (const id of taskIds) {
      const t = this.base.tasks.get(id);
      if (!t || !this.coding) continue;
      this.base.tasks.finish(t);
      this.coding.recovery.taskFailed(t, inst, `instance ${inst.id} ${reason}`, 'PARM_ERR_ENGINE_INSTANCE');
    }
    this.base.scheduler.pump();
  }

  onGaveUp(inst: EngineInstance, reason: string): void {
    this.log?.error({ instance: inst.id, reason }, 'instance gave up');
    this.base.scheduler.instanceChanged(inst);
    if (inst.role === 'deployed' && this.base.pool.allDeployedGaveUp()) {
      this.coding?.book.failAll(new ParmError('PARM_ERR_ENGINE_MODEL', `instance ${inst.id} could not start: ${reason}`));
    }
  }

  private freed(inst: EngineInstance): void {
    this.base.scheduler.instanceChanged(inst);
    this.base.scheduler.pump();
  }

  private onOriginal(c: RouterCoding, u: Unit, out: Float32Array, by: string): void {
    if (u.original === null) u.original = out;
    if (u.output !== null || u.query.answered) {
      this.counters.lateOriginalsDiscarded++;
      return;
    }
    c.book.answerUnit(u, out, false, by);
    if (u.group) c.coding.tryDecode(u.group);
  }

  private onParity(c: RouterCoding, g: Group, row: number, out: Float32Array, by: string): void {
    if (g.parity[row] !== null) return;
    g.parity[row] = out;
    g.parityBy[row] = by;
    c.coding.tryDecode(g);
  }

  /**
   * A bug or an unexpected codec error while handling a result: answer the task's own queries with
   * an error rather than leave them waiting (parity outputs are only lost, the originals still come).
   */
  private internalError(c: RouterCoding, t: Task, e: unknown): void {
    this.log?.error({ err: (e as Error)?.message, task: t.id, role: t.role }, 'internal error handling a result');
    if (t.role !== 'deployed') return;
    for (const u of t.units) {
      if (u.output === null) c.book.fail(u.query, new ParmError('PARM_ERR_ENGINE_MODEL', `internal error: ${(e as Error)?.message ?? String(e)}`));
    }
  }
}

// Recovery after an instance failure (a crash, a hang, a failed run, a lost connection): what the
// failed task still owes is answered from a reconstruction already decoded, re-issued ahead of
// new work (up to maxRetries per unit), or answered with the cause.
import { ParmError, type ErrorCode } from '../errors.js';
import type { EngineInstance } from './instance.js';
import type { Counters } from './metrics.js';
import type { ModelShape } from './model-signature.js';
import type { QueryBook, Unit } from './query.js';
import type { Scheduler } from './scheduler.js';
import type { Task, TaskTable } from './task.js';

const openUnit = (u: Unit): boolean => u.output === null && !u.query.answered;

export class Recovery {
  /** Set by the engine once it has closed: failures after that are not recovered. */
  closed = false;

  constructor(
    private readonly maxRetries: number,
    private readonly shape: ModelShape,
    private readonly counters: Counters,
    private readonly book: QueryBook,
    private readonly tasks: TaskTable,
    private readonly scheduler: Scheduler,
    /** A unit's original failed: deferred parity of its group should start now. */
    private readonly memberFailed: (u: Unit) => void,
  ) {}

  /** `t` (already finished in the task table) failed on `inst` for `reason`. */
  taskFailed(t: Task, inst: EngineInstance, reason: string, code: ErrorCode): void {
    if (this.closed) return;
    if (t.role === 'parity') {
      this.parityFailed(t, inst);
      return;
    }
    const reissue: Unit[] = [];
    for (const u of t.units.filter(openUnit)) {
      this.memberFailed(u);
      if (u.recon) {
        // Its original will not come: the reconstruction answers now, whatever the deadline.
        this.book.answerUnit(u, u.recon, true, u.reconBy);
        continue;
      }
      if (u.tasks.length > 0) continue; // a hedge or an earlier retry is still on it
      if (u.retries >= this.maxRetries) {
        this.book.fail(u.query, new ParmError(code, `${reason}; gave up after ${u.retries} retries`));
        continue;
      }
      u.retries++;
      reissue.push(u);
    }
    if (reissue.length > 0) {
      this.counters.retries++;
      this.scheduler.enqueue(this.tasks.data(reissue, this.shape.elements, t.attempt + 1), true, inst);
    }
  }

  /** A parity task is re-run whole (positions stay aligned with its groups) while it still protects someone. */
  private parityFailed(t: Task, inst: EngineInstance): void {
    const needed = t.groups.some((g) => g.members.some(openUnit));
    if (!needed || t.attempt >= this.maxRetries) return;
    this.counters.retries++;
    this.scheduler.enqueue(this.tasks.parity(t.row, t.groups, t.input, t.attempt + 1), true, inst);
  }
}

// Work for instances, and the table of work not finished yet. A data task runs the deployed model
// on a batch of units; a parity task runs one parity row on the parity queries of coding groups.
import type { Clock, TimerHandle } from './clock.js';
import type { Group } from './coding-window.js';
import { IdTable } from './id-table.js';
import type { EngineInstance } from './instance.js';
import type { Unit } from './query.js';
import type { TaskQueue } from './queue.js';
import { sharedFloats } from './shared-floats.js';

export interface Task {
  readonly id: number;
  readonly role: 'deployed' | 'parity';
  /** Parity row (parity tasks); 0 for data tasks. */
  readonly row: number;
  /** Data tasks: the units whose samples `input` holds, in order. Empty for parity tasks. */
  readonly units: Unit[];
  /** Parity tasks: the groups whose parity queries `input` holds, in order. Empty for data tasks. */
  readonly groups: Group[];
  /** `batch` samples, read only (a view on shared memory). */
  readonly input: Float32Array;
  readonly batch: number;
  /** queued -> running -> done, or queued -> cancelled. Changed by Scheduler and TaskTable. */
  state: 'queued' | 'running' | 'done' | 'cancelled';
  /** The queue it waits in (while queued). */
  queue: TaskQueue<Task> | null;
  /** The instance running it (while running). */
  instance: EngineInstance | null;
  /** 0 for a first try; retries count up (Recovery). */
  readonly attempt: number;
  /** Hedged mode: the task this one duplicates. */
  readonly hedgeOf: Task | null;
  /** Hedged mode: fires the duplicate of a slow running task (Scheduler). */
  hedgeTimer: TimerHandle | null;
  /** Clock time it was handed to its instance (Scheduler.feed): its run time is measured from here. */
  startedAt: number;
  /** How long its instance had been without work when it was handed this task, ms (Scheduler.feed). */
  idleMs: number;
}

/** Tasks by id, from creation until they finish or are cancelled. */
export class TaskTable {
  private nextId = 1;
  /** Not a Map: src/engine/id-table.ts says why. */
  private readonly live = new IdTable<Task>();

  constructor(private readonly clock: Clock) {}

  get(id: number): Task | undefined {
    return this.live.get(id);
  }

  /** A data task over `units` (their samples copied into one batch input when there are several). */
  data(units: Unit[], elements: number, attempt: number, hedgeOf: Task | null = null): Task {
    let input: Float32Array;
    if (units.length === 1) {
      input = units[0]!.input;
    } else {
      input = sharedFloats(units.length * elements);
      units.forEach((u, i) => input.set(u.input, i * elements));
    }
    const t = this.make('deployed', 0, units, [], input, units.length, attempt, hedgeOf);
    for (const u of units) u.tasks.push(t);
    return t;
  }

  /** A parity task of row `row` whose input holds one parity query per group, in order. */
  parity(row: number, groups: Group[], input: Float32Array, attempt: number): Task {
    const t = this.make('parity', row, [], groups, input, groups.length, attempt, null);
    for (const g of groups) g.parityTasks.push(t);
    return t;
  }

  /**
   * One parity task for several of the same row taken off a queue together: their groups in order,
   * their inputs copied into one batch. The merged ones are done; the new one is queued-to-run.
   */
  mergeParity(parts: readonly Task[], elements: number): Task {
    const groups = parts.flatMap((p) => p.groups);
    const input = sharedFloats(groups.length * elements);
    let off = 0;
    for (const p of parts) {
      input.set(p.input, off);
      off += p.input.length;
      this.finish(p);
    }
    return this.parity(parts[0]!.row, groups, input, Math.max(...parts.map((p) => p.attempt)));
  }

  /** The task's run ended (result, error, instance down); it leaves the table and its units. */
  finish(t: Task): void {
    t.state = 'done';
    this.remove(t);
  }

  /** A queued task nobody needs any more (its queue has marked it cancelled). */
  drop(t: Task): void {
    this.remove(t);
  }

  private remove(t: Task): void {
    this.live.delete(t.id);
    this.clock.clearTimeout(t.hedgeTimer);
    t.hedgeTimer = null;
    for (const u of t.units) {
      const i = u.tasks.indexOf(t);
      if (i >= 0) u.tasks.splice(i, 1);
    }
  }

  private make(role: Task['role'], row: number, units: Unit[], groups: Group[], input: Float32Array, batch: number, attempt: number, hedgeOf: Task | null): Task {
    const t: Task = { id: this.nextId++, role, row, units, groups, input, batch, state: 'queued', queue: null, instance: null, attempt, hedgeOf, hedgeTimer: null, startedAt: 0, idleMs: 0 };
    this.live.add(t);
    return t;
  }
}

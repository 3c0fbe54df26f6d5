// The scheduler: one shared queue for the deployed instances and one per parity row (the paper's
// pull model: an instance with a free slot takes the next task), or one queue per instance with
// round-robin balancing; cancellation of queued work nobody needs; and hedging.
import type { Clock } from './clock.js';
import type { Group } from './coding-window.js';
import { FreeInstances } from './free-instances.js';
import type { EngineInstance } from './instance.js';
import type { InstancePool } from './instance-pool.js';
import type { Counters } from './metrics.js';
import type { ModelShape } from './model-signature.js';
import type { Unit } from './query.js';
import { TaskQueue } from './queue.js';
import type { Task, TaskTable } from './task.js';
import type { Mode } from './types.js';

export interface SchedulerOptions {
  mode: Mode;
  balancing: 'shared-queue' | 'round-robin';
  /**
   * Shared queue: the free instance that ran most recently takes the next task (FreeInstances);
   * undefined: so for a pool of local instances, least recent first for a pool with remote ones.
   */
  warmFirst: boolean | undefined;
  hedgeDelayMs: number;
}

/** Most parity queries merged into one run (scheduler.take). */
export const MAX_PARITY_MERGE = 16;

const openUnit = (u: Unit): boolean => u.output === null && !u.query.answered;
const doneUnit = (u: Unit): boolean => !openUnit(u);

export class Scheduler {
  private readonly deployedQueue = new TaskQueue<Task>();
  private readonly parityQueues: TaskQueue<Task>[];
  /** Round-robin balancing: each instance's own queue. */
  private readonly ownQueues = new Map<EngineInstance, TaskQueue<Task>>();
  /** Round-robin position (counts every placement). */
  private rr = 0;
  /** Instances with a free slot, per pool (deployed, then parity rows). Kept by instanceChanged(). */
  private readonly free: FreeInstances[];
  /**
   * When each instance last reported (a result, readiness, a failure): a task handed to it later
   * found it idle since then (its run time is recorded by idle class).
   */
  private readonly lastEvent = new Map<EngineInstance, number>();
  /** False until the models have loaded (activate()); pump() does nothing before. */
  private active = false;
  /** The engine is closing: no new hedges. Set by the engine. */
  closing = false;

  constructor(
    private readonly o: SchedulerOptions,
    private readonly pool: InstancePool,
    private readonly shape: ModelShape,
    private readonly clock: Clock,
    private readonly counters: Counters,
    private readonly tasks: TaskTable,
  ) {
    this.parityQueues = pool.parity.map(() => new TaskQueue<Task>());
    // Remote backends are spread over: each keeps its connections and its breaker fed with traffic
    // (a partitioned backend nobody sends to is never noticed), and their caches are their own.
    this.free = [pool.deployed, ...pool.parity].map((members) => new FreeInstances(o.warmFirst ?? members.every((i) => i.backend === undefined)));
    if (o.balancing === 'round-robin') for (const inst of pool.all) this.ownQueues.set(inst, new TaskQueue<Task>());
  }

  /** Places a task in its queue; retries and hedges go `front`, and avoid the instance that failed. */
  enqueue(t: Task, front: boolean, avoid: EngineInstance | null = null): void {
    let q: TaskQueue<Task>;
    if (this.o.balancing === 'round-robin') {
      const members = t.role === 'deployed' ? this.pool.deployed : this.pool.parity[t.row]!;
      const up = members.filter((i) => i.state !== 'down' && i.state !== 'restarting' && i !== avoid);
      const choices = up.length > 0 ? up : members;
      q = this.ownQueues.get(choices[this.rr++ % choices.length]!)!;
    } else {
      q = t.role === 'deployed' ? this.deployedQueue : this.parityQueues[t.row]!;
    }
    t.state = 'queued';
    t.queue = q;
    if (front) q.pushFront(t);
    else q.push(t);
  }

  /** The models have loaded: start handing out work, to free instances in index order first. */
  activate(): void {
    this.active = true;
    for (const set of this.free) set.clear();
    // Warm first takes the newest free instance: added last to first, the first comes first.
    [this.pool.deployed, ...this.pool.parity].forEach((members, i) => {
      for (const inst of this.free[i]!.warmFirst ? [...members].reverse() : members) this.instanceChanged(inst);
    });
    this.pump();
  }

  /** Records whether an instance has a free slot now; call after each of its events. */
  instanceChanged(inst: EngineInstance): void {
    this.lastEvent.set(inst, this.clock.now());
    const set = this.free[inst.role === 'deployed' ? 0 : 1 + inst.row]!;
    if (inst.freeSlots > 0) set.add(inst);
    else set.delete(inst);
  }

  /** Hands queued tasks to instances with free slots. */
  pump(): void {
    if (!this.active) return;
    this.pumpPool(this.free[0]!, this.deployedQueue);
    for (let row = 0; row < this.parityQueues.length; row++) this.pumpPool(this.free[row + 1]!, this.parityQueues[row]!);
  }

  /** An instance went down: its own queue (round-robin) moves to the others. */
  instanceDown(inst: EngineInstance): void {
    this.free[inst.role === 'deployed' ? 0 : 1 + inst.row]!.delete(inst);
    const own = this.ownQueues.get(inst);
    if (own) for (const t of own.drain()) this.enqueue(t, false, inst);
  }

  /**
   * A unit has its answer: data tasks all of whose units are answered go. Queued ones are
   * cancelled; running ones are abandoned where the instance can stop them (a remote request),
   * which frees its slot at once.
   */
  unitAnswered(u: Unit): void {
    let freed = false;
    for (const t of u.tasks.length === 1 ? [u.tasks[0]!] : [...u.tasks]) {
      if (!t.units.every(doneUnit)) continue;
      if (t.state === 'queued') {
        this.cancel(t);
        this.counters.cancellations++;
      } else if (t.state === 'running' && t.instance && t.instance.abandon(t.id)) {
        const inst = t.instance;
        this.tasks.finish(t);
        this.counters.abandoned++;
        this.instanceChanged(inst);
        freed = true;
      }
    }
    if (freed) this.pump();
  }

  /** Queued parity tasks all of whose groups are fully answered go. */
  cancelParity(g: Group): void {
    for (const t of g.parityTasks) {
      if (t.state === 'queued' && t.groups.every((x) => x.members.every(doneUnit))) {
        this.cancel(t);
        this.counters.parityCancelled++;
      }
    }
  }

  /** Tasks waiting per role. */
  depth(): { deployed: number; parity: number } {
    let deployed = this.deployedQueue.size;
    let parity = this.parityQueues.reduce((a, q) => a + q.size, 0);
    for (const [inst, q] of this.ownQueues) {
      if (inst.role === 'deployed') deployed += q.size;
      else parity += q.size;
    }
    return { deployed, parity };
  }

  private cancel(t: Task): void {
    if (t.state !== 'queued' || !t.queue) return;
    t.queue.cancel(t);
    this.tasks.drop(t);
  }

  private pumpPool(free: FreeInstances, shared: TaskQueue<Task>): void {
    if (free.size === 0) return;
    if (this.o.balancing === 'round-robin') {
      for (const inst of [...free.values()]) {
        const own = this.ownQueues.get(inst)!;
        while (inst.freeSlots > 0 && own.size > 0) this.feed(inst, this.take(own));
        if (inst.freeSlots === 0) free.delete(inst);
      }
      return;
    }
    while (free.size > 0 && shared.size > 0) {
      const inst = free.next()!;
      this.feed(inst, this.take(shared));
      // Re-inserted when it still has room: least recent first, the next task goes to another instance.
      free.delete(inst);
      if (inst.freeSlots > 0) free.add(inst);
    }
  }

  /**
   * The next task of a queue. Parity tasks waiting together are merged into one run of up to
   * MAX_PARITY_MERGE parity queries (the paper batches parity; one run of n costs far less than n
   * runs of one on a small model); nothing waits for a merge: only what is already queued.
   */
  private take(q: TaskQueue<Task>): Task {
    const first = q.shift()!;
    if (first.role !== 'parity' || q.size === 0) return first;
    const merged = [first];
    let batch = first.batch;
    while (q.size > 0 && batch < MAX_PARITY_MERGE) {
      const next = q.shift()!;
      merged.push(next);
      batch += next.batch;
    }
    return this.tasks.mergeParity(merged, this.shape.elements);
  }

  /** Run shapes by batch size, shared: instances only read them. */
  private readonly shapes = new Map<number, number[]>();

  private feed(inst: EngineInstance, t: Task): void {
    t.state = 'running';
    t.queue = null;
    t.instance = inst;
    t.startedAt = this.clock.now();
    // An instance that runs several tasks at once (a remote backend's concurrency) counts as idle since its last result.
    t.idleMs = t.startedAt - (this.lastEvent.get(inst) ?? -Infinity);
    let shape = this.shapes.get(t.batch);
    if (!shape) this.shapes.set(t.batch, (shape = [t.batch, ...this.shape.sample]));
    inst.run(t.id, t.input, shape);
    if (this.o.mode === 'hedged' && t.role === 'deployed' && !t.hedgeOf) {
      t.hedgeTimer = this.clock.setTimeout(() => this.hedge(t), this.o.hedgeDelayMs);
    }
  }

  /** Hedged mode: a duplicate of a task still running after hedgeDelayMs, for its open units. */
  private hedge(t: Task): void {
    t.hedgeTimer = null;
    if (t.state !== 'running' || this.closing) return;
    const open = t.units.filter(openUnit);
    if (open.length === 0) return;
    this.counters.hedges++;
    this.enqueue(this.tasks.data(open, this.shape.elements, t.attempt, t), true, t.instance);
    this.pump();
  }
}

// The instances of one pool that have a free slot, and which of them takes the next task. Warm
// first (the default): the one that became free most recently, whose model's weights and code are
// still in its core's caches and whose thread has not gone to sleep; the others stay idle, so at a
// moderate load a few warm instances serve everything. Measured on a 2-vCPU host (`npm run
// bench:idle`): a run of the bundled MLP right after another takes about 116 µs, after 5-10 ms of
// idleness 640-670 µs, so spreading a light load over every instance made each run cold. Least
// recent first (`warmFirst` false; the default for remote backends): the instance idle longest,
// which spreads work evenly. The members are an array, not a Set: a Set that loses and regains a
// member per task rehashes every few tasks (src/engine/id-table.ts says what that costs), and a
// pool has a few instances, which a scan walks without allocating.
import type { EngineInstance } from './instance.js';

export class FreeInstances {
  /** In the order they became free (least recent first). */
  private readonly members: EngineInstance[] = [];
  /** Warm first: members in the order they became free, newest last; may hold stale entries (skipped). */
  private readonly stack: EngineInstance[] = [];

  constructor(readonly warmFirst: boolean) {}

  get size(): number {
    return this.members.length;
  }

  /** `inst` has a free slot (again): warm first, it becomes the first choice. */
  add(inst: EngineInstance): void {
    if (!this.members.includes(inst)) this.members.push(inst);
    if (!this.warmFirst) return;
    this.stack.push(inst);
    if (this.stack.length > 4 * this.members.length + 16) this.compact();
  }

  delete(inst: EngineInstance): void {
    const m = this.members;
    const i = m.indexOf(inst);
    if (i < 0) return;
    // In place, keeping the order (splice would allocate the removed element's array).
    for (let j = i + 1; j < m.length; j++) m[j - 1] = m[j]!;
    m.length--;
  }

  clear(): void {
    this.members.length = 0;
    this.stack.length = 0;
  }

  /** The instance that takes the next task, or undefined when none is free. */
  next(): EngineInstance | undefined {
    if (!this.warmFirst) return this.members[0];
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1]!;
      if (this.members.includes(top)) return top;
      this.stack.pop();
    }
    return undefined;
  }

  values(): IterableIterator<EngineInstance> {
    return this.members.values();
  }

  /** Drops stale and repeated entries, keeping each member's newest place. */
  private compact(): void {
    const seen = new Set<EngineInstance>();
    const kept: EngineInstance[] = [];
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const inst = this.stack[i]!;
      if (this.members.includes(inst) && !seen.has(inst)) {
        seen.add(inst);
        kept.push(inst);
      }
    }
    kept.reverse();
    this.stack.length = 0;
    this.stack.push(...kept);
  }
}

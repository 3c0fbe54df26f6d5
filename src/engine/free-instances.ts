// The instances of one pool that have a free slot, and which of them takes the next task. Warm
// first (the default): the one that became free most recently, whose model's weights and code are
// still in its core's caches and whose thread has not gone to sleep; the others stay idle, so at a
// moderate load a few warm instances serve everything. Measured on a 2-vCPU host (`npm run
// bench:idle`): a run of the bundled MLP right after another takes about 116 µs, after 5-10 ms of
// idleness 640-670 µs, so spreading a light load over every instance made each run cold. Least
// recent first (`warmFirst` false; the default for remote backends): the instance idle longest,
// which spreads work evenly.
import type { EngineInstance } from './instance.js';

export class FreeInstances {
  private readonly members = new Set<EngineInstance>();
  /** Warm first: members in the order they became free, newest last; may hold stale entries (skipped). */
  private readonly stack: EngineInstance[] = [];

  constructor(readonly warmFirst: boolean) {}

  get size(): number {
    return this.members.size;
  }

  /** `inst` has a free slot (again): warm first, it becomes the first choice. */
  add(inst: EngineInstance): void {
    this.members.add(inst);
    if (!this.warmFirst) return;
    this.stack.push(inst);
    if (this.stack.length > 4 * this.members.size + 16) this.compact();
  }

  delete(inst: EngineInstance): void {
    this.members.delete(inst);
  }

  clear(): void {
    this.members.clear();
    this.stack.length = 0;
  }

  /** The instance that takes the next task, or undefined when none is free. */
  next(): EngineInstance | undefined {
    if (!this.warmFirst) return this.members.values().next().value;
    while (this.stack.length > 0) {
      const top = this.stack[this.stack.length - 1]!;
      if (this.members.has(top)) return top;
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
      if (this.members.has(inst) && !seen.has(inst)) {
        seen.add(inst);
        kept.push(inst);
      }
    }
    kept.reverse();
    this.stack.length = 0;
    this.stack.push(...kept);
  }
}

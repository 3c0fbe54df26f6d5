// Dynamic batching: accepted units collect until `maxBatch` of them or `maxDelayMs` after the
// first, then leave as one batch. Without batching every unit is a batch of its own.
import type { Clock, TimerHandle } from './clock.js';
import type { Unit } from './query.js';
import type { BatchingOptions } from './types.js';

export class Batcher {
  /** Units waiting for their batch to close. */
  private waiting: Unit[] = [];
  /** Closes the waiting batch at maxDelayMs after its first unit. */
  private timer: TimerHandle | null = null;

  constructor(
    private readonly opts: BatchingOptions | false,
    private readonly clock: Clock,
    /** Receives each closed batch (1 to maxBatch units, in arrival order). */
    private readonly emit: (units: Unit[]) => void,
  ) {}

  add(units: readonly Unit[]): void {
    const o = this.opts;
    if (!o) {
      for (const u of units) this.emit([u]);
      return;
    }
    for (const u of units) this.waiting.push(u);
    if (this.waiting.length >= o.maxBatch) this.flush();
    else if (!this.timer) this.timer = this.clock.setTimeout(() => this.flush(), o.maxDelayMs);
  }

  /** Closes what is waiting now, in batches of at most maxBatch. */
  flush(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    const max = this.opts ? this.opts.maxBatch : 1;
    while (this.waiting.length > 0) this.emit(this.waiting.splice(0, max));
  }

  dispose(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

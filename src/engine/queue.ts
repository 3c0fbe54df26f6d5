// A FIFO of tasks with O(1) cancellation: a cancelled task stays in place and is skipped.

export interface Queued {
  state: 'queued' | 'running' | 'done' | 'cancelled';
}

export class TaskQueue<T extends Queued> {
  private items: T[] = [];
  private head = 0;
  private live = 0;

  /** Tasks still waiting (cancelled ones excluded). */
  get size(): number {
    return this.live;
  }

  push(t: T): void {
    this.items.push(t);
    this.live++;
  }

  /** Retries and hedges jump the queue: they are already late. */
  pushFront(t: T): void {
    if (this.head > 0) this.items[--this.head] = t;
    else this.items.unshift(t);
    this.live++;
  }

  /** Mark a queued task cancelled; it is dropped when it reaches the front. */
  cancel(t: T): void {
    if (t.state !== 'queued') return;
    t.state = 'cancelled';
    this.live--;
  }

  shift(): T | undefined {
    while (this.head < this.items.length) {
      const t = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as T;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (t.state === 'queued') {
        this.live--;
        return t;
      }
    }
    return undefined;
  }

  /** Remove and return every waiting task (used to move a dead instance's own queue). */
  drain(): T[] {
    const out: T[] = [];
    for (let t = this.shift(); t; t = this.shift()) out.push(t);
    return out;
  }
}

// A binary min-heap on (key, seq): the simulated clock's timers and the shared cores' runs, both in
// the simulator's hot path (push and pop are O(log n) and move items into a hole instead of
// swapping pairs; measured with `npm run bench:simulate`, as fast as the clock's own heap was).
export interface HeapItem {
  key: number;
  /** Breaks ties of `key`: the smaller first. */
  seq: number;
}

const less = (a: HeapItem, b: HeapItem): boolean => a.key < b.key || (a.key === b.key && a.seq < b.seq);

export class MinHeap<T extends HeapItem> {
  private readonly h: T[] = [];

  get size(): number {
    return this.h.length;
  }

  /** The least item, or undefined when empty. */
  peek(): T | undefined {
    return this.h[0];
  }

  push(x: T): void {
    const h = this.h;
    // Sift up by moving parents down into the hole, then place x once.
    let i = h.length;
    h.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!less(x, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = x;
  }

  pop(): T | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    const n = h.length;
    if (n === 0 || last === undefined) return top;
    // Sift the last item down from the root the same way.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && less(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!less(child, last)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

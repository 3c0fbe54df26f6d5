// Live records by increasing numeric id (tasks, a remote backend's running requests), without a
// Map. A Map or Set that gains and loses an entry per query rehashes every few operations, and V8
// links each discarded table to its successor: once one table of the chain is in the old
// generation (any full collection moves it there), every later table and what its entries hold
// outlive young-generation collections through the dead predecessor, so the server promotes its
// per-query garbage and runs a full collection every second or two (docs/benchmark-tail.md, "Full
// collections"). Here the records live in a power-of-two ring of slots indexed by id, overwritten
// in place; ids are handed out in increasing order and most records leave in about that order, so
// a slot is free again by the time its next id comes. A record still live when a newer id needs
// its slot (a straggler) moves to a small overflow Map, the one place that can still churn; when
// stragglers pass an eighth of the ring (a backlog longer than the ring), the ring doubles.

/** The ring stops doubling here (a million slots, 8 MB); beyond it stragglers stay in the overflow. */
const MAX_SLOTS = 2 ** 20;

export class IdTable<T extends { readonly id: number }> {
  private ring: (T | undefined)[];
  private mask: number;
  private readonly overflow = new Map<number, T>();
  private count = 0;

  /** `slots`: the ring's size, rounded up to a power of two. */
  constructor(slots = 1024) {
    const n = 2 ** Math.ceil(Math.log2(Math.max(2, slots)));
    this.ring = new Array<T | undefined>(n).fill(undefined);
    this.mask = n - 1;
  }

  /** Records held. */
  get size(): number {
    return this.count;
  }

  /** Stragglers held outside the ring (what the table costs beyond its ring). */
  get overflowed(): number {
    return this.overflow.size;
  }

  get(id: number): T | undefined {
    const r = this.ring[id & this.mask];
    if (r !== undefined && r.id === id) return r;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  /** Adds a record whose id is not held (ids come from one increasing counter). */
  add(r: T): void {
    this.place(r);
    this.count++;
    if (this.overflow.size > this.ring.length >> 3 && this.ring.length < MAX_SLOTS) this.grow();
  }

  /** Removes the record with this id; returns whether one was held. */
  delete(id: number): boolean {
    const i = id & this.mask;
    const r = this.ring[i];
    if (r !== undefined && r.id === id) {
      this.ring[i] = undefined;
      this.count--;
      return true;
    }
    if (this.overflow.delete(id)) {
      this.count--;
      return true;
    }
    return false;
  }

  /** Puts `r` in its slot; the record there before, if any, becomes a straggler. */
  private place(r: T): void {
    const i = r.id & this.mask;
    const old = this.ring[i];
    if (old !== undefined) this.overflow.set(old.id, old);
    this.ring[i] = r;
  }

  private grow(): void {
    const all = [...this.values()];
    this.ring = new Array<T | undefined>(this.ring.length * 2).fill(undefined);
    this.mask = this.ring.length - 1;
    this.overflow.clear();
    // Oldest first, so that a collision leaves the newer record in the ring.
    all.sort((a, b) => a.id - b.id);
    for (const r of all) this.place(r);
  }

  /** Every record held, in no particular order. */
  *values(): IterableIterator<T> {
    for (const r of this.ring) if (r !== undefined) yield r;
    yield* this.overflow.values();
  }
}

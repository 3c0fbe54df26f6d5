// The simulator's binary heap (src/sim/min-heap.ts): items come out by key, ties in seq order.
import t from 'tap';
import { MinHeap } from '../../src/sim/min-heap.js';
import { makeRng } from '../../src/bench/tail/rng.js';

t.test('pops in (key, seq) order whatever the pushes', async (t) => {
  const rng = makeRng(7, 1);
  const heap = new MinHeap<{ key: number; seq: number }>();
  const items = Array.from({ length: 500 }, (_, seq) => ({ key: Math.floor(rng.next() * 50), seq }));
  const out: { key: number; seq: number }[] = [];
  // Interleave pushes and pops, as a simulation does.
  for (const [i, x] of items.entries()) {
    heap.push(x);
    if (i % 3 === 2) out.push(heap.pop()!);
  }
  while (heap.size > 0) out.push(heap.pop()!);
  t.equal(out.length, items.length);
  t.equal(heap.pop(), undefined, 'empty: undefined');
  t.equal(heap.peek(), undefined);
  const sorted = [...items].sort((a, b) => a.key - b.key || a.seq - b.seq);
  // With pops in between the output is not globally sorted, but what is left after the last push is.
  const tail = out.slice(Math.floor(items.length / 3));
  t.ok(tail.every((x, i) => i === 0 || tail[i - 1]!.key < x.key || (tail[i - 1]!.key === x.key && tail[i - 1]!.seq < x.seq)), 'the drained rest comes out in order');
  const all = new MinHeap<{ key: number; seq: number }>();
  for (const x of items) all.push(x);
  const drained = Array.from({ length: items.length }, () => all.pop()!);
  t.same(drained, sorted, 'pushed all, then drained: sorted by key, then seq');
});

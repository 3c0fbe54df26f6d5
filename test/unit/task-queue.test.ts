// The task queue: FIFO order, retries at the front, O(1) cancellation.
import t from 'tap';
import { TaskQueue } from '../../src/engine/queue.js';

t.test('TaskQueue: FIFO, front insertion, O(1) cancellation', async (t) => {
  type T = { id: number; state: 'queued' | 'running' | 'done' | 'cancelled' };
  const q = new TaskQueue<T>();
  const mk = (id: number): T => ({ id, state: 'queued' });
  const a = mk(1), b = mk(2), c = mk(3), d = mk(4);
  q.push(a); q.push(b); q.push(c);
  q.cancel(b);
  t.equal(q.size, 2);
  t.equal(q.shift()!.id, 1);
  q.pushFront(d);
  t.same([q.shift()!.id, q.shift()!.id, q.shift()], [4, 3, undefined]);
  t.equal(q.size, 0);
});

t.test('TaskQueue: compacts after many shifts and keeps order', async (t) => {
  type T = { id: number; state: 'queued' | 'running' | 'done' | 'cancelled' };
  const q = new TaskQueue<T>();
  for (let i = 0; i < 5000; i++) q.push({ id: i, state: 'queued' });
  const seen: number[] = [];
  for (let i = 0; i < 3000; i++) seen.push(q.shift()!.id);
  q.pushFront({ id: -1, state: 'queued' });
  seen.push(q.shift()!.id, q.shift()!.id);
  t.same(seen.slice(-3), [2999, -1, 3000]);
  t.equal(q.size, 1999);
  t.same(q.drain().length, 1999);
});

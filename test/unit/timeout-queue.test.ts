// The queries' timeouts on one timer (src/engine/timeout-queue.ts): each fires once at its time,
// in deadline order across lengths; cancelled ones never fire and release their closures; the one
// timer is not re-armed once none is pending, and dispose clears it.
import t from 'tap';
import { TimeoutQueue } from '../../src/engine/timeout-queue.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

t.test('timeouts fire once, at their time, across lengths', async (t) => {
  const clock = new VirtualClock();
  const q = new TimeoutQueue(clock);
  const fired: [string, number][] = [];
  const at = (name: string) => () => fired.push([name, clock.now()]);
  q.add(30, at('a30'));
  clock.advance(5);
  q.add(30, at('b30'));
  q.add(10, at('c10'));
  const d = q.add(30, at('d30'));
  q.add(100, at('e100'));
  t.equal(q.pending, 5);
  q.cancel(d);
  q.cancel(d);
  t.equal(q.pending, 4, 'a second cancel changes nothing');
  t.equal(d.fn, null, 'a cancelled timeout lets go of its closure');
  await clock.runUntil(() => false, 200);
  t.same(fired, [['c10', 15], ['a30', 30], ['b30', 35], ['e100', 105]]);
  t.equal(q.pending, 0);
  t.equal(q.held, 0, 'nothing held once every timeout fired');
});

t.test('cancelled in arrival order, the queue holds nothing and its timer is not re-armed', async (t) => {
  const clock = new VirtualClock();
  const q = new TimeoutQueue(clock);
  let fired = 0;
  const entries = Array.from({ length: 5000 }, () => q.add(30_000, () => fired++));
  for (const e of entries.slice(0, 4000)) q.cancel(e);
  t.equal(q.held, 1000, 'emptied heads are dropped at once');
  // Out of order: the emptied middle entries wait until the head passes them.
  for (const e of entries.slice(4500)) q.cancel(e);
  t.equal(q.pending, 500);
  t.equal(q.held, 1000);
  for (const e of entries.slice(4000, 4500)) q.cancel(e);
  t.equal(q.held, 0);
  t.equal(clock.pending, 1, 'the timer stays armed for the first timeout');
  await clock.runUntil(() => false, 40_000);
  t.equal(fired, 0);
  t.equal(clock.pending, 0, 'it fired, found nothing, and was not re-armed');
  q.add(10, () => fired++);
  q.dispose();
  t.equal(clock.pending, 0, 'dispose clears the timer');
});

t.test('a shorter timeout added later re-arms the timer earlier', async (t) => {
  const clock = new VirtualClock();
  const q = new TimeoutQueue(clock);
  const fired: number[] = [];
  q.add(1000, () => fired.push(clock.now()));
  q.add(3, () => fired.push(clock.now()));
  await clock.runUntil(() => fired.length === 2, 2000);
  t.same(fired, [3, 1000]);
  q.dispose();
});

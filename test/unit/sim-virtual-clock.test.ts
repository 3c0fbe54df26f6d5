// The simulated clock: timers in time order (ties in the order set), cancellation, housekeeping
// timers that do not keep a run going, promise callbacks between timers, and the view with Node's
// timer resolution.
import t from 'tap';
import { VirtualClock, nodeTimerDelay } from '../../src/sim/virtual-clock.js';

t.test("withNodeTimers: delays truncated to whole ms, at least 1, as Node's setTimeout; the clock itself stays exact", async (t) => {
  t.same([0, 0.2, 1, 1.23, 1.99, 2.05, 7.9, -3, NaN].map(nodeTimerDelay), [1, 1, 1, 1, 1, 2, 7, 1, 1]);
  const c = new VirtualClock();
  const node = c.withNodeTimers();
  const got: string[] = [];
  c.advance(0.4);
  node.setTimeout(() => got.push(`node 1.23@${node.now()}`), 1.23);
  c.setTimeout(() => got.push(`exact 1.23@${c.now()}`), 1.23);
  const gone = node.setTimeout(() => got.push('never'), 0.5);
  node.clearTimeout(gone);
  node.setTimeout(() => got.push(`node 2.5@${node.now()}`), 2.5);
  c.run();
  t.same(got, ['node 1.23@1.4', 'exact 1.23@1.63', 'node 2.5@2.4']);
});

t.test('timers fire in time order, ties in the order they were set', async (t) => {
  const c = new VirtualClock();
  const got: string[] = [];
  c.setTimeout(() => got.push(`b@${c.now()}`), 5);
  c.setTimeout(() => got.push(`a@${c.now()}`), 2);
  c.setTimeout(() => got.push(`c@${c.now()}`), 5);
  const x = c.setTimeout(() => got.push('never'), 3);
  c.clearTimeout(x);
  c.setTimeout(() => c.setTimeout(() => got.push(`d@${c.now()}`), 1), 5);
  t.equal(c.pending, 4);
  c.run();
  t.same(got, ['a@2', 'b@5', 'c@5', 'd@6']);
  t.equal(c.now(), 6);
  t.equal(c.pending, 0);
});

t.test('advance stops at the given time; housekeeping timers do not keep run() going', async (t) => {
  const c = new VirtualClock();
  let beats = 0;
  const beat = (): void => {
    beats++;
    c.setTimeout(beat, 10, true);
  };
  c.setTimeout(beat, 10, true);
  let fired = false;
  c.setTimeout(() => (fired = true), 35);
  c.advance(20);
  t.equal(c.now(), 20);
  t.equal(beats, 2);
  t.notOk(fired);
  c.run();
  t.ok(fired);
  t.equal(c.now(), 35, 'run() ends with the last live timer, housekeeping left pending');
  await c.runUntil(() => beats >= 6);
  t.equal(beats, 6, 'runUntil fires housekeeping timers too');
});

t.test('runAsync lets promise callbacks run between timers', async (t) => {
  const c = new VirtualClock();
  const order: string[] = [];
  c.setTimeout(() => void Promise.resolve().then(() => order.push('microtask after 1')), 1);
  c.setTimeout(() => order.push('timer 2'), 2);
  await c.runAsync();
  t.same(order, ['microtask after 1', 'timer 2']);
});

// When deferred parity starts (ParityStart), driven on a simulated clock with hand-made windows:
// a running member is late after the wait, a queued one only once it has run the wait, and any
// open member ten waits after its window closed.
import t from 'tap';
import type { ClosedWindow, Group } from '../../src/engine/coding-window.js';
import { Counters } from '../../src/engine/metrics.js';
import { PARITY_DEFER_CAP_MULTIPLE, ParityStart } from '../../src/engine/parity-start.js';
import type { Unit } from '../../src/engine/query.js';
import type { Task } from '../../src/engine/task.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

/** A window of one group with one open member, and the member's one task (queued). */
function windowOfOne(): { w: ClosedWindow; u: Unit; task: Task } {
  const task = { state: 'queued', startedAt: 0 } as Task;
  const u = { output: null, query: { answered: false }, tasks: [task], group: null } as unknown as Unit;
  const g = { members: [u], pendingParity: null } as unknown as Group;
  (u as { group: Group | null }).group = g;
  return { w: { groups: [g], batches: [], batchInputs: [] }, u, task };
}

function setup(): { clock: VirtualClock; starts: number[]; counters: Counters; ps: ParityStart } {
  const clock = new VirtualClock();
  const starts: number[] = [];
  const counters = new Counters();
  const ps = new ParityStart(2, clock, counters, 1, () => starts.push(clock.now()));
  return { clock, starts, counters, ps };
}

t.test('a member running for the whole wait is late', async (t) => {
  const { clock, starts, ps } = setup();
  const { w, task } = windowOfOne();
  task.state = 'running';
  ps.closed(w);
  clock.run(100);
  t.same(starts, [2]);
});

t.test('a queued member is late only after running the wait', async (t) => {
  const { clock, starts, ps } = setup();
  const { w, task } = windowOfOne();
  ps.closed(w);
  clock.advance(5);
  task.state = 'running';
  task.startedAt = 5;
  clock.run(100);
  t.same(starts, [7], 'started at 5, late at 7: not at the first check (2 ms)');
});

t.test('a member queued all along starts parity at the cap', async (t) => {
  const { clock, starts, ps } = setup();
  const { w } = windowOfOne();
  ps.closed(w);
  clock.run(100);
  t.same(starts, [PARITY_DEFER_CAP_MULTIPLE * 2]);
});

t.test('a member answered before it is late skips the parity, counted', async (t) => {
  const { clock, starts, counters, ps } = setup();
  const { w, u } = windowOfOne();
  ps.closed(w);
  clock.advance(3);
  (u as { output: Float32Array | null }).output = new Float32Array(1);
  clock.run(100);
  t.same(starts, []);
  t.equal(counters.paritySkipped, 1);
});

t.test('a failed member starts parity at once', async (t) => {
  const { clock, starts, ps } = setup();
  const { w, u } = windowOfOne();
  ps.closed(w);
  clock.advance(1);
  ps.memberFailed(u);
  clock.run(100);
  t.same(starts, [1]);
});

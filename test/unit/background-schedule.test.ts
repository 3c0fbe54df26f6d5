// The seeded background-load schedule and its driver on a simulated clock.
import t from 'tap';
import { backgroundPlan, backgroundTargets, startBackground } from '../../src/engine/background.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';

t.test('background schedule is seeded and distinct-pair', async (t) => {
  const spec = { seed: 3, kind: 'delay' as const, width: 2 as const, periodMs: 10, duty: 0.5, intensity: 5 };
  const targets = backgroundTargets(spec, ['deployed-0', 'deployed-1'], ['parity-0']);
  t.same(targets, ['deployed-0', 'deployed-1', 'parity-0']);
  const p1 = backgroundPlan(spec, targets, 50);
  t.same(p1, backgroundPlan(spec, targets, 50), 'same seed, same schedule');
  t.notSame(p1, backgroundPlan({ ...spec, seed: 4 }, targets, 50), 'another seed, another schedule');
  t.ok(p1.every((p) => p.length === 2 && p[0] !== p[1]), 'width 2: distinct pairs');
  t.same(new Set(p1.flat()), new Set(targets), 'every target gets disturbed');
  t.same(backgroundTargets({ ...spec, targets: 'deployed' }, ['deployed-0'], ['parity-0']), ['deployed-0']);
});

t.test('the driver disturbs the planned targets once per period, on the engine clock', async (t) => {
  const spec = { seed: 9, kind: 'delay' as const, width: 1 as const, periodMs: 20, duty: 0.25, intensity: 7 };
  const got: string[] = [];
  const mk = (id: string) => ({ id, disturb: (d: { forMs: number; intensity: number }) => got.push(`${id}:${d.forMs}:${d.intensity}`) });
  const clock = new VirtualClock();
  const stop = startBackground(spec, [mk('deployed-0'), mk('deployed-1')], [mk('parity-0')], clock);
  clock.advance(99);
  stop();
  clock.advance(500);
  const plan = backgroundPlan(spec, ['deployed-0', 'deployed-1', 'parity-0'], 5).map((p) => `${p[0]}:5:7`);
  t.same(got, plan, 'periods at 0, 20, 40, 60, 80 ms; nothing after stop()');
});

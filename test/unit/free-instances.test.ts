// Which free instance takes the next task: the most recently freed (warm first) or the one idle longest.
import t from 'tap';
import { FreeInstances } from '../../src/engine/free-instances.js';
import type { EngineInstance } from '../../src/engine/instance.js';

const inst = (id: string) => ({ id }) as unknown as EngineInstance;
const [a, b, c] = [inst('a'), inst('b'), inst('c')];

t.test('warm first: the newest free instance first, stale entries skipped', async (t) => {
  const f = new FreeInstances(true);
  f.add(a);
  f.add(b);
  f.add(c);
  t.equal(f.next(), c);
  f.delete(c);
  t.equal(f.next(), b, 'c went busy: b became free after a');
  f.delete(b);
  f.add(c);
  t.equal(f.next(), c, 'c is free again and newest');
  f.add(a);
  t.equal(f.next(), a, 'freed again (a second task ended): newest');
  t.equal(f.size, 2);
  f.delete(a);
  f.delete(c);
  t.equal(f.next(), undefined);
  t.equal(f.size, 0);
});

t.test('warm first stays bounded under churn', async (t) => {
  const f = new FreeInstances(true);
  for (let i = 0; i < 10_000; i++) {
    f.add(a);
    f.add(b);
    f.delete(i % 2 === 0 ? a : b);
  }
  t.ok((f as unknown as { stack: unknown[] }).stack.length <= 4 * f.size + 17, 'compacted');
  t.equal(f.size, 1);
});

t.test('least recent first: the instance free longest', async (t) => {
  const f = new FreeInstances(false);
  f.add(a);
  f.add(b);
  t.equal(f.next(), a);
  f.delete(a);
  f.add(a);
  t.equal(f.next(), b);
});

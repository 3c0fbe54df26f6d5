// Parity instances run their inference thread at a lower CPU priority (parityNice), so that on
// hosts where instances share cores the parity work yields to the originals it protects.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { createEngine, type Engine } from '../../src/index.js';
import { MLP, PARITY_A, images } from './engine-helpers.js';

/** Nice value of one thread of this process, from /proc (field 19 of stat). */
function threadNice(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  // Fields after the parenthesised command name; nice is field 19 overall, index 16 here.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

// parityNice is added to the process's own nice value (this test may itself run under `nice`).
const base = getPriority();
const skip = process.platform !== 'linux' ? 'reads /proc (Linux only)' : base + 7 > 19 ? `the process runs at nice ${base}: no room below it for parityNice 7` : false;

/** Nice value of each instance's model thread, by role (instances report their OS thread id). */
function instanceNices(e: Engine): { role: string; nice: number }[] {
  return e.metrics().instances.map((i) => ({ role: i.role, nice: i.tid === undefined ? NaN : threadNice(i.tid) }));
}

t.test('parity threads run parityNice below the process, deployed ones at its priority', { skip }, async (t) => {
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', k: 2, instances: 2, parityInstances: 2, parityNice: 7,
  });
  t.teardown(() => e.close());
  const [x, y] = images(2, 5) as [Float32Array, Float32Array];
  await Promise.all([e.infer(x), e.infer(y)]);
  t.same(instanceNices(e), [
    { role: 'deployed', nice: base }, { role: 'deployed', nice: base }, { role: 'parity', nice: base + 7 }, { role: 'parity', nice: base + 7 },
  ], `model threads: deployed at the process's nice ${base}, parity at ${base + 7}`);
  await e.close();
  const plain = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', k: 2, instances: 2, parityInstances: 2, parityNice: 0,
  });
  t.teardown(() => plain.close());
  await Promise.all([plain.infer(x), plain.infer(y)]);
  t.ok(instanceNices(plain).every((i) => i.nice === base), "parityNice 0 leaves every model thread at the process's priority");
});

t.test('parityNice is validated', async (t) => {
  await t.rejects(createEngine({ name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', parityNice: 20 }), {
    code: 'PARM_ERR_ENGINE_CONFIG',
    message: /parityNice/,
  });
});

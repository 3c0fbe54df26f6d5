// Parity instances run their inference thread at a lower CPU priority (parityNice), so that on
// hosts where instances share cores the parity work yields to the originals it protects.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { createEngine } from '../../src/index.js';
import { MLP, PARITY_A, images } from './engine-helpers.js';

/** Nice value of every thread of this process, from /proc (field 19 of stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the parenthesised command name; nice is field 19 overall, index 16 here.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

// parityNice is added to the process's own nice value (this test may itself run under `nice`).
const base = getPriority();
const skip = process.platform !== 'linux' ? 'reads /proc (Linux only)' : base + 7 > 19 ? `the process runs at nice ${base}: no room below it for parityNice 7` : false;

t.test('parity threads run parityNice below the process, deployed ones at its priority', { skip }, async (t) => {
  const before = threadNices().filter((n) => n === base + 7).length;
  const niced = threadNices().filter((n) => n !== base).length;
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', k: 2, instances: 2, parityInstances: 2, parityNice: 7,
  });
  t.teardown(() => e.close());
  const [x, y] = images(2, 5) as [Float32Array, Float32Array];
  await Promise.all([e.infer(x), e.infer(y)]);
  // Threads an instance starts after lowering its priority inherit it, so count at least one each.
  t.ok(threadNices().filter((n) => n === base + 7).length - before >= 2, `a thread at nice ${base + 7} (the process's ${base} + 7) per parity instance`);
  t.equal(e.metrics().instances.filter((i) => i.role === 'parity').length, 2);
  await e.close();
  // Terminated worker threads leave /proc/self/task shortly after close resolves (seconds on a loaded machine).
  for (let i = 0; i < 600 && threadNices().filter((n) => n !== base).length > niced; i++) await new Promise((r) => setTimeout(r, 50));
  const plain = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', k: 2, instances: 2, parityInstances: 2, parityNice: 0,
  });
  t.teardown(() => plain.close());
  await Promise.all([plain.infer(x), plain.infer(y)]);
  // The first engine's threads may still be leaving; threads this engine lowered would stay.
  for (let i = 0; i < 600 && threadNices().filter((n) => n !== base).length > niced; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(threadNices().filter((n) => n !== base).length, niced, "parityNice 0 leaves every thread at the process's priority");
});

t.test('parityNice is validated', async (t) => {
  await t.rejects(createEngine({ name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], mode: 'parm', parityNice: 20 }), {
    code: 'PARM_ERR_ENGINE_CONFIG',
    message: /parityNice/,
  });
});

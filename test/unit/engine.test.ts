// Pure parts of the engine: input checks, option validation, the task queue, the background schedule.
import t from 'tap';
import { backgroundPlan, backgroundTargets } from '../../src/engine/background.js';
import { checkInput, firstNonFinite } from '../../src/engine/input.js';
import { deployedInstanceCount, resolveOptions } from '../../src/engine/options.js';
import { TaskQueue } from '../../src/engine/queue.js';
import { fileURLToPath } from 'node:url';

const MLP = fileURLToPath(new URL('../fixtures/models/mlp.onnx', import.meta.url));

t.test('checkInput', async (t) => {
  const s = [1, 2, 2];
  t.same(checkInput(new Float32Array(4), s, 10).n, 1);
  const b = checkInput({ data: new Float32Array(12), shape: [3, 1, 2, 2] }, s, 10);
  t.same([b.n, b.batched], [3, true]);
  t.throws(() => checkInput({ data: new Float32Array(44), shape: [11, 1, 2, 2] }, s, 10), /batch dimension must be in \[1, 10\], got 11/);
  t.throws(() => checkInput({ data: new Float32Array(0), shape: [0, 1, 2, 2] }, s, 10), { code: 'PARM_ERR_ENGINE_INPUT' });
  t.throws(() => checkInput({ data: new Float32Array(4), shape: [1, 2, 2.5] }, s, 10), /non-negative integers/);
  t.throws(() => checkInput(new Int32Array(4), s, 10), /got Int32Array/);
  t.equal(firstNonFinite(new Float32Array([0, 1, -2, 3.5])), -1);
  t.equal(firstNonFinite(new Float32Array([0, 1, Infinity])), 2);
  t.equal(firstNonFinite(new Float32Array([NaN])), 0);
});

t.test('resolveOptions', async (t) => {
  const o = resolveOptions({ name: 'm', deployedModel: MLP, parityModels: [{ path: MLP }], k: 3, instances: 4 });
  t.equal(o.mode, 'parm', 'parm when parity models are given');
  t.equal(o.parityInstances, 2, 'ceil(m / k) parity instances');
  t.same(o.parityModels[0]!.coefficients, [1, 1, 1]);
  t.same(o.decode, { kind: 'first' });
  t.equal(resolveOptions({ name: 'm', deployedModel: MLP }).mode, 'none');
  const bad: [object, RegExp][] = [
    [{ k: 0 }, /^k: expected an integer/],
    [{ encoder: 'xor' }, /^encoder: expected one of sum, concat/],
    [{ decode: { kind: 'deadline' } }, /^decode\.waitMs/],
    [{ faults: [{ kind: 'delay', instance: 'gpu-1', ms: 1 }] }, /^faults\[0\]\.instance/],
    [{ faults: [{ kind: 'contention', instance: '*', busyMs: 20, periodMs: 10 }] }, /^faults\[0\]\.busyMs/],
    [{ background: { seed: 1, kind: 'contention', width: 3, periodMs: 10, duty: 0.5, intensity: 0.5 } }, /^background\.width/],
    [{ batching: { maxBatch: 0, maxDelayMs: 1 } }, /^batching\.maxBatch/],
    [{ parityModels: [{ path: MLP }, { path: MLP }], encoder: 'concat' }, /concat encoder supports r = 1/],
    [{ name: '' }, /^name:/],
  ];
  for (const [patch, msg] of bad) {
    t.throws(() => resolveOptions({ name: 'm', deployedModel: MLP, ...patch }), { code: 'PARM_ERR_ENGINE_CONFIG', message: msg }, JSON.stringify(patch));
  }
});

t.test('every mode with redundancy runs as many instances as parm', async (t) => {
  const base = { name: 'm', deployedModel: MLP, parityModels: [{ path: MLP }, { path: MLP, coefficients: [1, 2] }], k: 2, instances: 4 };
  const count = (mode: 'none' | 'equal-resources' | 'hedged' | 'parm'): number => deployedInstanceCount(resolveOptions({ ...base, mode }));
  // parm: 4 deployed + 2 rows x ceil(4 / 2) parity = 8 instances.
  t.same([count('none'), count('parm'), count('equal-resources'), count('hedged')], [4, 4, 8, 8]);
});

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

t.test('instanceExecArgv keeps loaders, drops entry-only flags', async (t) => {
  const { instanceExecArgv } = await import('../../src/engine/instance.js');
  t.same(
    instanceExecArgv(['--import=file:///x/loader.mjs', '--input-type=module', '-e', 'code', '--eval=more', '--enable-source-maps', '--inspect=9229', '--require', 'r.cjs', '--watch']),
    ['--import=file:///x/loader.mjs', '--enable-source-maps', '--require', 'r.cjs'],
  );
});

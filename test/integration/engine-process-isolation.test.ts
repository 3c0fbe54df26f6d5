// Failures with process isolation: a child process killed mid-load loses no query, a hung one is
// killed and replaced. Its own file: every child process start is slow under the test loader.
import t from 'tap';
import { createEngine, type InferResult } from '../../src/index.js';
import { MLP, PARITY_A, direct, images, maxAbsDiff } from './engine-helpers.js';

t.test('process isolation: an instance killed mid-load loses no query', async (t) => {
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], k: 2, instances: 2, parityInstances: 1,
    isolation: 'process', maxRetries: 6, faults: [{ kind: 'crash', instance: 'deployed-0', afterQueries: 6 }, { kind: 'delay', instance: '*', ms: 2 }],
  });
  t.teardown(() => e.close());
  const xs = images(60, 51);
  const all = Promise.allSettled(xs.map((x) => e.infer(x)));
  // Besides the injected crashes, kill one child process from outside while it is busy.
  await new Promise((r) => setTimeout(r, 20));
  const victim = e.metrics().instances.find((i) => i.id === 'deployed-1')!;
  t.ok(victim.pid !== undefined, 'process isolation reports a pid');
  try {
    if (victim.pid !== undefined) process.kill(victim.pid, 'SIGKILL');
  } catch {
    // It crashed by itself a moment earlier (ESRCH): the injected crashes still cover the test.
  }
  const res = await all;
  const failed = res.filter((r) => r.status === 'rejected');
  t.equal(failed.length, 0, 'every query answered with a result');
  const m = e.metrics();
  t.ok(m.restarts >= 1, `the instance crashed and was restarted (${m.restarts})`);
  t.equal(m.answered, 60);
  for (const [i, r] of res.entries()) {
    const v = (r as PromiseFulfilledResult<InferResult>).value;
    if (!v.reconstructed && maxAbsDiff(v.output, await direct(MLP, xs[i]!)) !== 0) t.fail(`query ${i}: wrong original`);
  }
});

t.test('process isolation: a hung child process is killed and replaced; setFaults clears it', async (t) => {
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, mode: 'none', instances: 1, isolation: 'process', hangTimeoutMs: 300, heartbeatMs: 50,
  });
  t.teardown(() => e.close());
  const [x, y] = images(2, 71) as [Float32Array, Float32Array];
  t.equal((await e.infer(x)).reconstructed, false);
  e.setFaults([{ kind: 'hang', instance: 'deployed-0' }]);
  const pending = e.infer(y);
  await new Promise((r) => setTimeout(r, 100));
  e.setFaults([]); // the restarted process starts without the fault
  const r = await pending;
  // The lower bound shows the hang was detected, not skipped. No upper bound: a replacement process
  // under tap's TypeScript loader on a loaded machine can take tens of seconds to start; that the
  // query is answered at all (by the replacement, counted below) is the claim.
  t.ok(r.latencyMs >= 290, `answered after the hang was detected (${r.latencyMs.toFixed(0)} ms)`);
  t.equal(maxAbsDiff(r.output, await direct(MLP, y)), 0);
  const m = e.metrics();
  t.equal(m.restarts, 1);
  t.equal(m.retries, 1);
  t.same(m.instances.map((i) => [i.id, i.restarts]), [['deployed-0', 1]]);
});

// The model repository's slots and the statistics book on fake engines (no sockets): phases and
// reasons through load, unload and a failed load, serialized transitions, server readiness with
// a deployment unloaded on request, and Triton-shaped statistics that count successes, failures
// and samples.
import t from 'tap';
import { ParmError } from '../../src/errors.js';
import type { EngineOptions } from '../../src/engine/types.js';
import { DeploymentSlot, ModelRepository } from '../../src/server/model-repository.js';
import { StatisticsBook } from '../../src/server/statistics.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const x = new Float32Array(784).fill(0.5);

t.test('a slot forwards to its engine while loaded and refuses with the reason otherwise', async (t) => {
  const first = new FakeEngine({ startNotReady: true });
  const made: FakeEngine[] = [];
  const slot = new DeploymentSlot(first, (o: EngineOptions) => {
    const e = new FakeEngine({ name: o.name });
    made.push(e);
    return e;
  });
  t.equal(slot.phase, 'loading');
  t.equal(slot.reason, 'loading');
  t.equal(slot.info, undefined, 'no model description before it loaded');
  await t.rejects(slot.infer(x), { code: 'PARM_ERR_SERVER_NOT_READY', message: "model 'fake' is not ready: loading" });
  first.markReady();
  await slot.ready();
  await new Promise((r) => setImmediate(r));
  t.equal(slot.phase, 'loaded');
  t.ok(slot.isReady());
  t.equal((await slot.infer(x)).output.length, 10);

  // Unload and load requested back to back run one after the other.
  const unloading = slot.unload();
  t.equal(slot.phase, 'loaded', 'transitions start in order, after the one before');
  const loading = slot.load();
  await unloading;
  t.ok(first.closed, 'unload stopped the engine');
  await loading;
  t.equal(made.length, 1);
  t.equal(slot.phase, 'loaded');
  t.equal((await slot.infer(x)).output.length, 10, 'the fresh engine serves');
  t.equal(made[0]!.calls, 1);

  await slot.unload();
  await slot.unload();
  t.equal(slot.phase, 'unloaded', 'unload is idempotent');
  t.match(slot.reason, /^unloaded \(POST \/v2\/repository\/models\/fake\/load to load it\)$/);
  await slot.close();
  await t.rejects(slot.load(), { code: 'PARM_ERR_ENGINE_CLOSED' }, 'no load after the server closed');
});

t.test('a failed load says why; without a factory load is refused', async (t) => {
  const broken = new FakeEngine();
  broken.ready = () => Promise.reject(new ParmError('PARM_ERR_ENGINE_MODEL', 'model.onnx: no such file'));
  let attempts = 0;
  const slot = new DeploymentSlot(new FakeEngine(), () => {
    attempts++;
    return broken;
  });
  await slot.unload();
  await t.rejects(slot.load(), { message: 'model.onnx: no such file' });
  t.equal(slot.phase, 'failed');
  t.equal(slot.reason, 'failed to load: model.onnx: no such file');
  await t.rejects(slot.load());
  t.equal(attempts, 2, 'load tries again after a failure');

  const fixed = new DeploymentSlot(new FakeEngine(), undefined);
  await fixed.unload();
  await t.rejects(fixed.load(), { code: 'PARM_ERR_SERVER_CONFIG', message: /without an engine factory/ });
});

t.test('the index and server readiness: a deployment unloaded on request does not make the server unready', async (t) => {
  const repo = new ModelRepository(
    new Map([
      ['a', new FakeEngine({ name: 'a' })],
      ['b', new FakeEngine({ name: 'b', startNotReady: true })],
    ]),
    undefined,
  );
  t.same(repo.index(), [
    { name: 'a', version: '1', state: 'READY', reason: '' },
    { name: 'b', version: '1', state: 'UNAVAILABLE', reason: 'loading' },
  ]);
  t.equal(repo.allReady(), false, 'b is still loading');
  await repo.get('b').unload();
  t.equal(repo.allReady(), true, 'b was unloaded on request');
  t.same(repo.index(true).map((e) => e.name), ['a']);
  t.throws(() => repo.get('c'), { code: 'PARM_ERR_SERVER_NOT_FOUND', message: "unknown model 'c'" });
});

t.test('statistics count successes, failures and samples, in Triton shape with parm counters', async (t) => {
  const book = new StatisticsBook();
  const engine = new FakeEngine({ name: 'a' });
  const ok = (n: number) => book.observe('a', n, engine.infer(x));
  await ok(1);
  await ok(3);
  await book.observe('a', 2, Promise.reject(new ParmError('PARM_ERR_ENGINE_TIMEOUT', 'late'))).catch(() => undefined);
  await new Promise((r) => setImmediate(r));
  const [s] = book.report([engine], 'a');
  t.equal(s!.inference_count, 4, 'samples of the successful requests');
  t.equal(s!.inference_stats.success.count, 2);
  t.equal(s!.inference_stats.fail.count, 1);
  t.ok(s!.inference_stats.success.ns > 0);
  t.same(s!.inference_stats.queue, { count: 0, ns: 0 }, 'not broken down: zero');
  t.equal(s!.execution_count, engine.metrics().runTime.deployed.count);
  t.equal(s!.parm_queries, 2);
  t.ok(s!.last_inference > 0);
  t.same(Object.keys(s!.inference_stats), ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss']);
  t.same(book.report([engine, new FakeEngine({ name: 'b' })]).map((m) => m.name), ['a', 'b'], 'every model');
  t.equal(book.report([new FakeEngine({ name: 'b' })])[0]!.inference_count, 0, 'a model with no requests yet');
  t.throws(() => book.report([engine], 'nope'), { code: 'PARM_ERR_SERVER_NOT_FOUND' });
  t.throws(() => book.report([engine], 'a', '2'), { code: 'PARM_ERR_SERVER_NOT_FOUND', message: /unknown version '2' of model 'a'/ });
});

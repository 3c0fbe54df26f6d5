// Reconstructions are checked against Fp(P) - sum F(X_j) computed here, with the models run directly.
import t from 'tap';
import { codec, createEngine } from '../../src/index.js';
import { MLP, PARITY_A, PARITY_B, axpby, direct, images, maxAbsDiff } from './engine-helpers.js';

t.test('k = 2, r = 1: a late original is replaced by Fp(X1 + X2) - F(X1)', async (t) => {
  // Two deployed instances both idle: the first query goes to deployed-0, the second to the
  // deployed-1, which is delayed by 400 ms; the parity instance answers in well under that.
  // Least recent first, so that every pair that follows is placed the same way.
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], k: 2, instances: 2, parityInstances: 1,
    groupWaitMs: 50, warmFirst: false, faults: [{ kind: 'delay', instance: 'deployed-1', ms: 400 }],
  });
  t.teardown(() => e.close());
  const [x1, x2] = images(2, 11) as [Float32Array, Float32Array];
  const [r1, r2] = await Promise.all([e.infer(x1), e.infer(x2)]);
  t.equal(r1!.reconstructed, false);
  t.equal(r1!.instance, 'deployed-0');
  t.equal(r2!.reconstructed, true, 'the delayed query is reconstructed');
  t.comment(`answered in ${r2!.latencyMs.toFixed(1)} ms, before the delayed original (400 ms): a reconstruction is only used when it comes first`);
  const f1 = await direct(MLP, x1);
  t.ok(maxAbsDiff(r1!.output, f1) === 0, 'the original equals the deployed model run directly');
  const fp = await direct(PARITY_A, axpby(x1, 1, x2, 1));
  const expected = axpby(fp, 1, f1, -1);
  t.ok(maxAbsDiff(r2!.output, expected) <= 1e-6, `reconstruction = Fp(P) - F(X1) (max diff ${maxAbsDiff(r2!.output, expected)})`);
  t.ok(maxAbsDiff(r2!.output, await direct(MLP, x2)) > 0, 'and it is not the original (untrained parity model)');
  await new Promise((r) => setTimeout(r, 500));
  const m = e.metrics();
  t.equal(m.reconstructions, 1);
  t.equal(m.lateOriginalsDiscarded, 1, 'the late original is discarded and counted');
  t.equal(m.latency['reconstructed']!.count, 1);

  // Deadline policy: wait for the original up to waitMs, then use the reconstruction.
  const [y1, y2] = images(2, 12) as [Float32Array, Float32Array];
  const waitShort = Promise.all([e.infer(y1), e.infer(y2, { decode: { kind: 'deadline', waitMs: 150 } })]);
  const [, d2] = await waitShort;
  t.equal(d2!.reconstructed, true);
  // Reconstructed (above), so it did not wait for the 400 ms original; no upper bound on a shared machine.
  t.ok(d2!.latencyMs >= 150, `deadline 150 ms: reconstruction used after the wait (${d2!.latencyMs.toFixed(1)} ms)`);
  await new Promise((r) => setTimeout(r, 400));
  const [z1, z2] = images(2, 13) as [Float32Array, Float32Array];
  const [, w2] = await Promise.all([e.infer(z1), e.infer(z2, { decode: { kind: 'deadline', waitMs: 2000 } })]);
  t.equal(w2!.reconstructed, false, 'deadline beyond the delay: the original answers');
  t.ok(maxAbsDiff(w2!.output, await direct(MLP, z2)) === 0);

  // Partial group, policy replicate (default): a lone query, every deployed instance slow. Both
  // slots hold x: P = 2x, Fp(P) = 2 F(x) so F(x) = Fp(2x) / 2.
  await new Promise((r) => setTimeout(r, 400));
  e.setFaults([{ kind: 'delay', instance: '*', ms: 400 }]);
  const before = e.metrics().partialGroups;
  const [x] = images(1, 31) as [Float32Array];
  const r = await e.infer(x);
  t.equal(e.metrics().partialGroups, before + 1, 'replicate: one partial group');
  t.equal(r.reconstructed, true);
  const fp2 = await direct(PARITY_A, axpby(x, 1, x, 1));
  const half = fp2.map((v) => Math.fround(v / 2));
  t.ok(maxAbsDiff(r.output, half) <= 1e-6, `reconstruction = Fp(2x) / 2 (diff ${maxAbsDiff(r.output, half)})`);
});

t.test('r = 2: two missing outputs of a group are both reconstructed', async (t) => {
  // Coefficient rows [1, 1] and [1, 2]; the one deployed instance is slow, both parities fast.
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, k: 2, instances: 1, parityInstances: 1, groupWaitMs: 50,
    parityModels: [{ path: PARITY_A }, { path: PARITY_B, coefficients: [1, 2] }],
    faults: [{ kind: 'delay', instance: '*', ms: 400 }],
  });
  t.teardown(() => e.close());
  const [x1, x2] = images(2, 21) as [Float32Array, Float32Array];
  const [r1, r2] = await Promise.all([e.infer(x1), e.infer(x2)]);
  t.ok(r1!.reconstructed && r2!.reconstructed, 'both answered by decoding');
  const fa = await direct(PARITY_A, axpby(x1, 1, x2, 1)); // = F1 + F2
  const fb = await direct(PARITY_B, axpby(x1, 1, x2, 2)); // = F1 + 2 F2
  const f2 = axpby(fb, 1, fa, -1);
  const f1 = axpby(fa, 2, fb, -1);
  t.ok(maxAbsDiff(r1!.output, f1) <= 1e-4, `F1 = 2 Fa - Fb (diff ${maxAbsDiff(r1!.output, f1)})`);
  t.ok(maxAbsDiff(r2!.output, f2) <= 1e-4, `F2 = Fb - Fa (diff ${maxAbsDiff(r2!.output, f2)})`);
  t.equal(r1!.instance, 'parity-0+parity-1');
});

t.test('partial groups, policy unprotected: no parity, the query waits for its original', async (t) => {
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], k: 2, instances: 1, parityInstances: 1,
    groupWaitMs: 5, partialGroup: 'unprotected', faults: [{ kind: 'delay', instance: 'deployed-0', ms: 300 }],
  });
  t.teardown(() => e.close());
  const [x] = images(1, 31) as [Float32Array];
  const r = await e.infer(x);
  const m = e.metrics();
  t.equal(m.partialGroups, 1);
  t.equal(m.unprotected, 1);
  t.equal(m.groups, 0);
  t.equal(r.reconstructed, false);
  t.ok(r.latencyMs >= 290, 'waits for its original');
});

t.test('batching: parity over batches, group i = sample i of each batch', async (t) => {
  // Four queries at once with maxBatch 2: batch A = [x0, x1] goes to deployed-0 (slow), batch
  // B = [x2, x3] to deployed-1; the parity batch is [x0 + x2, x1 + x3].
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], k: 2, instances: 2, parityInstances: 1,
    batching: { maxBatch: 2, maxDelayMs: 50 }, groupWaitMs: 50, faults: [{ kind: 'delay', instance: 'deployed-0', ms: 400 }],
  });
  t.teardown(() => e.close());
  const xs = images(4, 41) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const rs = await Promise.all(xs.map((x) => e.infer(x)));
  t.same(rs.map((r) => r.reconstructed), [true, true, false, false]);
  for (const [i, j] of [[0, 2], [1, 3]] as const) {
    const fp = await direct(PARITY_A, axpby(xs[i], 1, xs[j], 1));
    const expected = axpby(fp, 1, await direct(MLP, xs[j]), -1);
    t.ok(maxAbsDiff(rs[i]!.output, expected) <= 1e-6, `x${i} = Fp(x${i} + x${j}) - F(x${j}) (diff ${maxAbsDiff(rs[i]!.output, expected)})`);
  }
  t.equal(e.metrics().groups, 2);
});

t.test('concat encoder: reconstruction from Fp(concat(X1, X2))', async (t) => {
  const e = await createEngine({
    name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY_A }], k: 2, encoder: 'concat', instances: 2, parityInstances: 1,
    groupWaitMs: 50, faults: [{ kind: 'delay', instance: 'deployed-1', ms: 400 }],
  });
  t.teardown(() => e.close());
  const [x1, x2] = images(2, 42) as [Float32Array, Float32Array];
  const [r1, r2] = await Promise.all([e.infer(x1), e.infer(x2)]);
  t.equal(r1!.reconstructed, false);
  t.equal(r2!.reconstructed, true);
  // The tiling itself is the codec's (checked against Contract 2 in its own tests); here: wiring.
  const p = codec.encodeConcat([x1, x2], { channels: 1, height: 28, width: 28 });
  const expected = axpby(await direct(PARITY_A, p), 1, await direct(MLP, x1), -1);
  t.ok(maxAbsDiff(r2!.output, expected) <= 1e-6, `reconstruction = Fp(concat) - F(X1) (diff ${maxAbsDiff(r2!.output, expected)})`);
});

// The case table on the real addon (CPU): every ISA this CPU has, 1 and 3 threads, sync and
// async, compared bit for bit with Contract 2 oracles written in TypeScript.
import t from 'tap';

import * as codec from '../../src/codec/index.js';
import {
  coefficients, firstBitDifference, loadCases, oracleConcat, oracleDecodeOne, oracleSum, poisonedView, randomView, rng,
} from '../cases/cases.js';

const table = loadCases();
const isas = codec.capabilities().isaAvailable as ('ref' | 'avx2' | 'avx512')[];
const initialIsa = codec.capabilities().isa;
const initialThreads = codec.capabilities().threads;

t.teardown(() => {
  codec.setIsa(initialIsa as 'ref');
  codec.setThreads(initialThreads);
});

t.test('capabilities', async (t) => {
  const c = codec.capabilities();
  t.ok(isas.includes('ref'), 'ref is always available');
  t.ok(c.isaAvailable.includes(c.isa), 'the active ISA is an available one');
  t.ok(c.threads >= 1);
  t.equal(typeof c.cuda.compiled, 'boolean');
  if (!c.cuda.available) t.ok(c.cuda.reason.length > 0, 'CUDA unavailable with a reason: ' + c.cuda.reason);
  for (const isa of isas) t.equal(codec.setIsa(isa), isa, `setIsa(${isa})`);
  t.equal(codec.setIsa('auto'), isas[isas.length - 1], 'auto picks the best available');
});

function each(fn: (isa: string, threads: number) => void): void {
  for (const isa of isas) {
    codec.setIsa(isa);
    for (const threads of [1, 3]) {
      codec.setThreads(threads);
      fn(isa, threads);
    }
  }
}

t.test('encode_sum cases (sync and async) equal the oracle bit for bit', async (t) => {
  for (const c of table.encode_sum) {
    const next = rng(c.n * 31 + c.k);
    const inputs = Array.from({ length: c.k }, (_, i) => randomView(c.n, (c.offset + i) % 4, next));
    const w = coefficients(table, c.weights, 1, c.k)?.[0] ?? null;
    const expect = oracleSum(inputs, w);
    const opts = w ? { weights: w } : {};
    const failures: string[] = [];
    for (const isa of isas) {
      codec.setIsa(isa);
      for (const threads of [1, 3]) {
        codec.setThreads(threads);
        const { view, guard } = poisonedView(c.n, c.offset);
        codec.encodeSum(inputs, { ...opts, out: view });
        const at = firstBitDifference(view, expect);
        if (at >= 0) failures.push(`${isa}/${threads} sync: element ${at} = ${view[at]}, oracle ${expect[at]}`);
        if (!Number.isNaN(guard[0])) failures.push(`${isa}/${threads} wrote past the end`);
        const a = await codec.encodeSumAsync(inputs, opts);
        const at2 = firstBitDifference(a, expect);
        if (at2 >= 0) failures.push(`${isa}/${threads} async: element ${at2}`);
      }
    }
    t.same(failures, [], `n=${c.n} k=${c.k} weights=${c.weights} offset=${c.offset}`);
  }
});

t.test('encode_sum_batched: parity i encodes query i of every batch', async (t) => {
  for (const c of table.encode_sum_batched) {
    const next = rng(c.batch * 7 + c.k);
    const n = c.batch * c.elements;
    const batches = Array.from({ length: c.k }, (_, i) => randomView(n, (c.offset + i) % 3, next));
    const w = coefficients(table, c.weights, 1, c.k)?.[0] ?? null;
    each((isa, threads) => {
      const out = codec.encodeSumBatched(batches, c.batch, w ? { weights: w } : {});
      for (let q = 0; q < c.batch; q++) {
        const query = batches.map((b) => b.subarray(q * c.elements, (q + 1) * c.elements));
        const at = firstBitDifference(out.subarray(q * c.elements, (q + 1) * c.elements), oracleSum(query, w));
        if (at >= 0) t.fail(`batch=${c.batch} k=${c.k} ${isa}/${threads}: query ${q} element ${at}`);
      }
    });
    t.pass(`batch=${c.batch} elements=${c.elements} k=${c.k}`);
  }
});

t.test('encode_concat cases equal the oracle bit for bit', async (t) => {
  for (const c of table.encode_concat) {
    const n = c.channels * c.height * c.width;
    const next = rng(n * 7 + c.k);
    const images = Array.from({ length: c.k }, (_, i) => randomView(n, (c.offset + i) % 3, next));
    const expect = oracleConcat(images, c);
    const shape = { channels: c.channels, height: c.height, width: c.width, layout: c.layout };
    const opts = c.grid ? { grid: c.grid } : {};
    each((isa, threads) => {
      const { view, guard } = poisonedView(n, c.offset);
      codec.encodeConcat(images, shape, { ...opts, out: view });
      t.equal(firstBitDifference(view, expect), -1,
        `${c.channels}x${c.height}x${c.width} k=${c.k} ${c.layout} grid=${JSON.stringify(c.grid)} ${isa} threads=${threads}`);
      t.ok(Number.isNaN(guard[0]), 'no write past the end');
    });
    for (const isa of isas) {
      codec.setIsa(isa);
      const a = await codec.encodeConcatAsync(images, shape, opts);
      t.equal(firstBitDifference(a, expect), -1, `async ${isa}`);
    }
  }
});

t.test('decode cases: exact single-erasure arithmetic, r > 1 reconstructs, every ISA equal', async (t) => {
  for (const c of table.decode) {
    const next = rng(c.n * 17 + c.k * 3 + c.r);
    const data = Array.from({ length: c.k }, (_, j) => randomView(c.n, (c.offset + j) % 2, next));
    const coeff = coefficients(table, c.coefficients, c.r, c.k);
    codec.setIsa('ref');
    const parity = Array.from({ length: c.r }, (_, q) => codec.encodeSum(data, coeff ? { weights: coeff[q]! } : {}));
    const withHoles = data.map((d, j) => (c.missing.includes(j) ? null : d));
    const opts = coeff ? { coefficients: coeff } : {};
    let expect: Float32Array | null = null;
    if (c.missing.length === 1) {
      const i = c.missing[0]!;
      const row = coeff ? coeff.findIndex((r) => r[i] !== 0) : 0;
      expect = oracleDecodeOne(parity[row]!, withHoles, coeff ? coeff[row]! : null, i);
    }
    let first: Float32Array[] | null = null;
    const failures: string[] = [];
    for (const isa of isas) {
      codec.setIsa(isa);
      for (const threads of [1, 3]) {
        codec.setThreads(threads);
        const outs = codec.decode(parity, withHoles, opts);
        if (outs.length !== c.missing.length) failures.push(`${isa}: ${outs.length} outputs`);
        if (expect && firstBitDifference(outs[0]!, expect) >= 0) failures.push(`${isa}/${threads}: differs from oracle`);
        first ??= outs;
        outs.forEach((o, m) => { if (firstBitDifference(o, first![m]!) >= 0) failures.push(`${isa}/${threads}: differs from ref`); });
        outs.forEach((o, m) => {
          const truth = data[c.missing[m]!]!;
          let worst = 0;
          for (let e = 0; e < o.length; e++) worst = Math.max(worst, Math.abs(o[e]! - truth[e]!) / (1 + Math.abs(truth[e]!)));
          if (!(worst <= table.tolerance.reconstruction_rel)) failures.push(`${isa}: reconstruction error ${worst}`);
        });
      }
    }
    const a = await codec.decodeAsync(parity, withHoles, opts);
    a.forEach((o, m) => { if (firstBitDifference(o, first![m]!) >= 0) failures.push('async differs'); });
    t.same(failures, [], `n=${c.n} k=${c.k} r=${c.r} missing=${JSON.stringify(c.missing)} ${c.coefficients}`);
  }
});

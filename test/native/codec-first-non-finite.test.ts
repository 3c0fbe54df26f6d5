// firstNonFinite on the real addon, under every ISA this CPU has: NaN / +-Inf at the first,
// middle, last and tail positions of odd lengths and unaligned views, none, and argument errors.
import t from 'tap';

import * as codec from '../../src/codec/index.js';

const isas = codec.capabilities().isaAvailable as ('ref' | 'avx2' | 'avx512')[];
const initialIsa = codec.capabilities().isa;
t.teardown(() => {
  codec.setIsa(initialIsa as 'ref');
});

function random(n: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = (s / 2 ** 32) * 8 - 4;
  }
  return x;
}

t.test('index of the first NaN / Infinity / -Infinity on every ISA', async (t) => {
  const failures: string[] = [];
  let checks = 0;
  for (const isa of isas) {
    codec.setIsa(isa);
    for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 129, 784, 1001]) {
      for (const offset of [0, 1, 3]) {
        // The storage around the view holds NaN: a kernel reading past the view would report it.
        const storage = new Float32Array(n + offset + 1).fill(NaN);
        const x = storage.subarray(offset, offset + n);
        x.set(random(n, n * 7 + offset));
        if (n > 3) { x[1] = 3.4028234663852886e38; x[2] = -0; x[3] = 1e-45; }  // finite edge values
        const clean = x.slice();
        checks++;
        if (codec.firstNonFinite(x) !== -1) failures.push(`${isa} n=${n} offset=${offset}: finite data reported`);
        const positions = n === 0 ? [] : [0, n >> 1, n - 1, n - 1 - ((n - 1) % 3)];
        for (const at of positions) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            x[at] = bad;
            if (at + 5 < n) x[at + 5] = Infinity;  // a later one must not change the answer
            const got = codec.firstNonFinite(x);
            checks++;
            if (got !== at) failures.push(`${isa} n=${n} offset=${offset} ${bad} at ${at}: got ${got}`);
            x.set(clean);
          }
        }
      }
    }
  }
  t.same(failures, [], `${checks} checks on ${isas.join(', ')}`);
});

t.test('argument checks like the other calls', async (t) => {
  t.throws(() => codec.firstNonFinite(new Float64Array(3) as unknown as Float32Array),
    { name: 'TypeError', message: /^x must be a Float32Array \(got Float64Array\)/, code: 'PARM_ERR_CODEC_ARGUMENT' });
  t.throws(() => codec.firstNonFinite([1, 2] as unknown as Float32Array), { name: 'TypeError', message: /got Array/ });
  t.throws(() => codec.firstNonFinite(null as unknown as Float32Array), { name: 'TypeError', message: /got null/ });
  const ab = new ArrayBuffer(16);
  const view = new Float32Array(ab);
  structuredClone(ab, { transfer: [ab] });
  t.throws(() => codec.firstNonFinite(view), { name: 'TypeError', message: /x is backed by a detached ArrayBuffer/ });
});

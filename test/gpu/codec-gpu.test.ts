// The case table on CUDA device buffers, bit for bit against the CPU addon. Needs the CUDA build
// (PARM_ADDON=build-cuda/Release/parm.node, see bench/gpu/run.sh) and a device; skipped with the
// reason otherwise.
import t from 'tap';

import * as codec from '../../src/codec/index.js';
import { ParmError } from '../../src/errors.js';
import { coefficients, firstBitDifference, loadCases, randomView, rng } from '../cases/cases.js';

const cuda = codec.capabilities().cuda;
const skip = cuda.available ? false : `no usable CUDA device: ${cuda.reason}`;
const table = loadCases();

t.test('DeviceBuffer lifecycle', { skip }, async (t) => {
  const host = randomView(1000, 1, rng(1));
  const b = codec.DeviceBuffer.from(host);
  t.equal(b.length, 1000);
  t.equal(firstBitDifference(b.download(), host), -1, 'upload then download round-trips');
  const part = b.download(new Float32Array(10), 990);
  t.equal(firstBitDifference(part, host.subarray(990)), -1, 'download at an offset');
  t.throws(() => b.upload(new Float32Array(11), 990), { name: 'RangeError' });
  const out = new codec.DeviceBuffer(1000);
  const pending = codec.encodeSumDevice([b, b], out);
  try {
    b.dispose();
    t.fail('dispose while in use must throw');
  } catch (e) {
    t.ok(e instanceof ParmError && /pending/.test(e.message), 'cannot dispose while in use');
  }
  await pending;
  b.dispose();
  b.dispose();
  t.ok(b.disposed, 'dispose is idempotent');
  t.throws(() => b.download(), { name: 'TypeError', message: /disposed/ });
  await t.rejects(codec.encodeSumDevice([b], out), { name: 'TypeError', message: /disposed/ });
  out.dispose();
});

t.test('encode_sum cases on the device equal the CPU bit for bit', { skip }, async (t) => {
  codec.setIsa('ref');
  for (const c of table.encode_sum) {
    const next = rng(c.n * 31 + c.k);
    const inputs = Array.from({ length: c.k }, (_, i) => randomView(c.n, (c.offset + i) % 4, next));
    const w = coefficients(table, c.weights, 1, c.k)?.[0] ?? null;
    const expect = codec.encodeSum(inputs, w ? { weights: w } : {});
    const dev = inputs.map((x) => codec.DeviceBuffer.from(x));
    const out = new codec.DeviceBuffer(c.n);
    await codec.encodeSumDevice(dev, out, w ? { weights: w } : {});
    t.equal(firstBitDifference(out.download(), expect), -1, `n=${c.n} k=${c.k} ${c.weights}`);
    [...dev, out].forEach((b) => b.dispose());
  }
});

t.test('encode_concat cases on the device equal the CPU bit for bit', { skip }, async (t) => {
  for (const c of table.encode_concat) {
    const n = c.channels * c.height * c.width;
    const next = rng(n * 7 + c.k);
    const images = Array.from({ length: c.k }, (_, i) => randomView(n, (c.offset + i) % 3, next));
    const shape = { channels: c.channels, height: c.height, width: c.width, layout: c.layout };
    const opts = c.grid ? { grid: c.grid } : {};
    const expect = codec.encodeConcat(images, shape, opts);
    const dev = images.map((x) => codec.DeviceBuffer.from(x));
    const out = new codec.DeviceBuffer(n);
    await codec.encodeConcatDevice(dev, shape, out, opts);
    t.equal(firstBitDifference(out.download(), expect), -1, `${c.channels}x${c.height}x${c.width} k=${c.k} ${c.layout}`);
    [...dev, out].forEach((b) => b.dispose());
  }
});

t.test('decode cases on the device equal the CPU bit for bit', { skip }, async (t) => {
  for (const c of table.decode) {
    const next = rng(c.n * 17 + c.k * 3 + c.r);
    const data = Array.from({ length: c.k }, (_, j) => randomView(c.n, (c.offset + j) % 2, next));
    const coeff = coefficients(table, c.coefficients, c.r, c.k);
    const parity = Array.from({ length: c.r }, (_, q) => codec.encodeSum(data, coeff ? { weights: coeff[q]! } : {}));
    const holes = data.map((d, j) => (c.missing.includes(j) ? null : d));
    const opts = coeff ? { coefficients: coeff } : {};
    const expect = codec.decode(parity, holes, opts);
    const dp = parity.map((x) => codec.DeviceBuffer.from(x));
    const dd = holes.map((x) => (x ? codec.DeviceBuffer.from(x) : null));
    const outs = expect.map(() => new codec.DeviceBuffer(c.n));
    await codec.decodeDevice(dp, dd, outs, opts);
    outs.forEach((o, i) => t.equal(firstBitDifference(o.download(), expect[i]!), -1, `n=${c.n} k=${c.k} r=${c.r} out ${i}`));
    [...dp, ...outs].forEach((b) => b.dispose());
    dd.forEach((b) => b?.dispose());
  }
});

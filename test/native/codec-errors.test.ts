// Argument errors of the codec API on the real addon: TypeError for wrong dtypes, RangeError
// naming the argument for sizes, detached buffers, k = 0, singular decodes (ParmError codes),
// plus the error cases of the shared case table.
import t, { type Test } from 'tap';

import type { NativeDeviceBuffer } from '../../src/addon/binding.js';
import { addon } from '../../src/addon/load.js';
import * as codec from '../../src/codec/index.js';
import { ParmError } from '../../src/errors.js';
import { coefficients, loadCases } from '../cases/cases.js';

const table = loadCases();
const a = Float32Array.of(1, 2, 3), b = Float32Array.of(4, 5, 6);

function throwsParm(t: Test, fn: () => unknown, code: string, message: RegExp = /./): void {
  try {
    fn();
    t.fail(`expected ParmError ${code}`);
  } catch (e) {
    t.ok(e instanceof ParmError, 'a ParmError');
    t.equal((e as ParmError).code, code);
    t.match((e as Error).message, message);
  }
}

function detached(n: number): Float32Array {
  const ab = new ArrayBuffer(n * 4);
  const view = new Float32Array(ab);
  structuredClone(ab, { transfer: [ab] });
  return view;
}

t.test('wrong dtype -> TypeError naming the argument', async (t) => {
  t.throws(() => codec.encodeSum([a, new Float64Array(3) as unknown as Float32Array]),
    { name: 'TypeError', message: /inputs\[1\] must be a Float32Array \(got Float64Array\)/, code: 'PARM_ERR_CODEC_ARGUMENT' });
  t.throws(() => codec.encodeSum([new Int32Array(3) as unknown as Float32Array, a]), { name: 'TypeError', message: /inputs\[0\]/ });
  t.throws(() => codec.encodeSum([a, [1, 2, 3] as unknown as Float32Array]), { name: 'TypeError', message: /inputs\[1\].*Array/ });
  t.throws(() => codec.encodeSum([a, b], { out: new Float64Array(3) as unknown as Float32Array }), { name: 'TypeError', message: /^out must be/ });
  t.throws(() => codec.encodeSum('nope' as unknown as Float32Array[]), { name: 'TypeError', message: /inputs must be an array/ });
  t.throws(() => codec.decode([a], [b, new Uint8Array(3) as unknown as Float32Array, null]), { name: 'TypeError', message: /dataOutputs\[1\]/ });
  t.throws(() => codec.encodeConcat([new Float64Array(4) as unknown as Float32Array], { channels: 1, height: 2, width: 2 }),
    { name: 'TypeError', message: /images\[0\]/ });
  t.throws(() => codec.encodeSumBatched([a, Buffer.alloc(12) as unknown as Float32Array], 1), { name: 'TypeError', message: /batches\[1\]/ });
  await t.rejects(codec.encodeSumAsync([a, new Float64Array(3) as unknown as Float32Array]), { name: 'TypeError', message: /inputs\[1\]/ });
});

t.test('mismatched lengths -> RangeError naming the argument', async (t) => {
  t.throws(() => codec.encodeSum([a, b.subarray(1)]), { name: 'RangeError', message: /inputs\[1\] has length 2, expected 3/ });
  t.throws(() => codec.encodeSum([a, b], { out: new Float32Array(2) }), { name: 'RangeError', message: /out has length 2, expected 3/ });
  t.throws(() => codec.encodeSum([a, b], { weights: [1] }), { name: 'RangeError', message: /weights has length 1, expected k = 2/ });
  t.throws(() => codec.encodeSum([a, b], { weights: [1, Number.NaN] }), { name: 'RangeError', message: /weights\[1\] must be a finite/ });
  t.throws(() => codec.encodeSumBatched([a, b], 2), { name: 'RangeError', message: /batches\[0\] has length 3, not a multiple of batch = 2/ });
  t.throws(() => codec.encodeSumBatched([new Float32Array(4), new Float32Array(6)], 2), { name: 'RangeError', message: /batches\[1\] has length 6/ });
  t.throws(() => codec.encodeConcat([a], { channels: 1, height: 2, width: 2 }), { name: 'RangeError', message: /images\[0\] has length 3, expected channels\*height\*width = 4/ });
  t.throws(() => codec.encodeConcat([new Float32Array(4)], { channels: 0, height: 2, width: 2 }), { name: 'RangeError', message: /shape.channels/ });
  t.throws(() => codec.encodeConcat([new Float32Array(4)], { channels: 1, height: 2, width: 2 }, { grid: [3, 1] }), { name: 'RangeError', message: /grid\[0\]/ });
  t.throws(() => codec.decode([a], [b, Float32Array.of(1, 2), null]), { name: 'RangeError', message: /dataOutputs\[1\] has length 2, expected 3/ });
  t.throws(() => codec.decode([a, b], [a, null]), { name: 'RangeError', message: /coefficients are required/ });
  t.throws(() => codec.decode([a, b], [a, null], { coefficients: [[1, 1]] }), { name: 'RangeError', message: /coefficients has 1 rows, expected r = 2/ });
  t.throws(() => codec.decode([a], [a, null], { coefficients: [[1, 1, 1]] }), { name: 'RangeError', message: /coefficients\[0\] has length 3, expected k = 2/ });
  const big = new Float32Array(8);
  t.throws(() => codec.encodeSum([big.subarray(0, 4), big.subarray(2, 6)], { out: big.subarray(4, 8) }), { name: 'RangeError', message: /out overlaps inputs\[1\]/ });
});

t.test('k = 0 is rejected', async (t) => {
  t.throws(() => codec.encodeSum([]), { name: 'RangeError', message: /k = 0/ });
  await t.rejects(codec.encodeSumAsync([]), { name: 'RangeError', message: /k = 0/ });
  t.throws(() => codec.encodeSumBatched([], 1), { name: 'RangeError', message: /k = 0/ });
  t.throws(() => codec.encodeConcat([], { channels: 1, height: 2, width: 2 }), { name: 'RangeError', message: /k = 0/ });
  t.throws(() => codec.decode([a], []), { name: 'RangeError', message: /k = 0/ });
  t.throws(() => codec.decode([], [a, null]), { name: 'RangeError', message: /parityOutputs.*k = 0/ });
});

t.test('detached and too-small buffers are rejected', async (t) => {
  t.throws(() => codec.encodeSum([a, detached(3)]), { name: 'TypeError', message: /inputs\[1\] is backed by a detached ArrayBuffer/ });
  t.throws(() => codec.encodeSum([a, b], { out: detached(3) }), { name: 'TypeError', message: /out is backed by a detached/ });
  t.throws(() => codec.decode([a], [detached(3), null]), { name: 'TypeError', message: /dataOutputs\[0\] is backed by a detached/ });
  t.throws(() => codec.copy(a, new Float32Array(1)), { name: 'RangeError', message: /dst has length 1/ });
});

t.test('singular and impossible decodes -> ParmError PARM_ERR_CODEC_SINGULAR', async (t) => {
  throwsParm(t, () => codec.decode([a], [null, null]), 'PARM_ERR_CODEC_SINGULAR', /2 data outputs are missing but only 1/);
  throwsParm(t, () => codec.decode([a, b], [null, null], { coefficients: [[1, 2], [2, 4]] }), 'PARM_ERR_CODEC_SINGULAR', /singular/);
  throwsParm(t, () => codec.decode([a], [a, null], { coefficients: [[1, 0]] }), 'PARM_ERR_CODEC_SINGULAR', /nonzero coefficient/);
  await t.rejects(codec.decodeAsync([a], [null, null]), { code: 'PARM_ERR_CODEC_SINGULAR' });
});

t.test('the case table error cases', async (t) => {
  for (const c of table.errors) {
    if (c.op === 'encode_sum') {
      t.throws(() => codec.encodeSum([]), { name: 'RangeError' }, c.what);
    } else if (c.op === 'decode') {
      const n = c['n'] as number, k = c['k'] as number, r = c['r'] as number, missing = c['missing'] as number[];
      const coeff = coefficients(table, c['coefficients'] as string, r, k);
      const parity = Array.from({ length: r }, () => new Float32Array(n).fill(1));
      const data = Array.from({ length: k }, (_, j) => (missing.includes(j) ? null : new Float32Array(n).fill(1)));
      t.throws(() => codec.decode(parity, data, coeff ? { coefficients: coeff } : {}), { code: 'PARM_ERR_CODEC_SINGULAR' }, c.what);
    } else if (c.op === 'encode_concat') {
      const shape = { channels: c['channels'] as number, height: c['height'] as number, width: c['width'] as number };
      const n = shape.channels * shape.height * shape.width;
      const imgs = Array.from({ length: c['k'] as number }, () => new Float32Array(n));
      t.throws(() => codec.encodeConcat(imgs, shape, { grid: c['grid'] as [number, number] }), { name: 'RangeError', message: /grid/ }, c.what);
    }
  }
});

t.test('ISA and thread settings are checked', async (t) => {
  t.throws(() => codec.setIsa('sse9' as 'ref'), { name: 'RangeError', message: /isa must be one of/ });
  t.throws(() => codec.setThreads(0), { name: 'RangeError', message: /threads must be between 1 and 1024/ });
  t.throws(() => codec.setThreads(1.5), { name: 'RangeError' });
});

const cudaHere = codec.capabilities().cuda;
t.test('without a usable CUDA device, DeviceBuffer fails with a ParmError', { skip: cudaHere.available ? 'a CUDA device is available here' : false }, async (t) => {
  const cuda = cudaHere;
  throwsParm(t, () => new codec.DeviceBuffer(16), cuda.compiled ? 'PARM_ERR_CODEC_NO_DEVICE' : 'PARM_ERR_CODEC_UNSUPPORTED', /CUDA|device/);
});

// The device-buffer glue parses its arguments like the host glue: a wrong type is a TypeError and a
// wrong count a RangeError, naming the field and what it got, before anything needs a device.
t.test('CUDA ops: argument errors name the field (no device needed)', async (t) => {
  const b = addon();
  const arg = { code: 'PARM_ERR_CODEC_ARGUMENT' };
  const f32 = new Float32Array(4);
  const notBuffer = { length: 4 } as unknown as NativeDeviceBuffer;
  t.throws(() => b.cudaEncodeSum('x' as unknown as NativeDeviceBuffer[], null, notBuffer),
    { ...arg, name: 'TypeError', message: 'inputs must be an array of DeviceBuffer (got string)' });
  t.throws(() => b.cudaEncodeSum([], null, notBuffer),
    { ...arg, name: 'RangeError', message: 'inputs must hold at least one buffer (k = 0)' });
  t.throws(() => b.cudaEncodeSum([notBuffer], null, notBuffer),
    { ...arg, name: 'TypeError', message: 'inputs[0] must be a DeviceBuffer (got object)' });
  t.throws(() => b.cudaEncodeConcat([f32 as unknown as NativeDeviceBuffer], 1, 2, 2, 'nchw', 0, 0, notBuffer),
    { ...arg, name: 'TypeError', message: 'images[0] must be a DeviceBuffer (got Float32Array)' });
  t.throws(() => b.cudaEncodeConcat([], 1, 2, 2, 'nchw', 0, 0, notBuffer),
    { ...arg, name: 'RangeError', message: 'images must hold at least one buffer (k = 0)' });
  t.throws(() => b.cudaDecode([notBuffer], [null], null, []),
    { ...arg, name: 'TypeError', message: 'parityOutputs[0] must be a DeviceBuffer (got object)' });
  t.throws(() => b.cudaDecode(null as unknown as NativeDeviceBuffer[], [null], null, []),
    { ...arg, name: 'TypeError', message: 'parityOutputs must be an array of DeviceBuffer (got null)' });
  t.throws(() => b.cudaCopy(f32 as unknown as NativeDeviceBuffer, notBuffer),
    { ...arg, name: 'TypeError', message: 'src must be a DeviceBuffer (got Float32Array)' });
  t.throws(() => new b.DeviceBuffer('4' as unknown as number),
    { ...arg, name: 'TypeError', message: 'length must be an integer (got string)' });
  t.throws(() => new b.DeviceBuffer(0), { ...arg, name: 'RangeError', message: /^length must be between 1 and \d+ \(got 0\)$/ });
  t.throws(() => new b.DeviceBuffer(2.5), { ...arg, name: 'RangeError', message: /^length must be an integer/ });
});

t.test('decode outputs must not overlap each other', async (t) => {
  const whole = new Float32Array(6);
  t.throws(() => codec.decode([a], [null, null, b], { coefficients: [[1, 1, 1]], outs: [whole.subarray(0, 3), whole.subarray(2, 5)] }),
    { name: 'RangeError', message: /outs\[1\] overlaps outs\[0\]/ });
});

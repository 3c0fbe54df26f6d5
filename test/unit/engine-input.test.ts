// Input checks of `infer`: one query or a batch, shapes and dtypes named in the message,
// non-finite values refused (they would poison a whole coding group's parity).
import t from 'tap';
import { checkInput } from '../../src/engine/input.js';
import { fakeCodec } from '../helpers/fake-codec.js';

const scan = fakeCodec().firstNonFinite;

t.test('checkInput', async (t) => {
  const s = [1, 2, 2];
  t.same(checkInput(new Float32Array(4), s, 10, scan).n, 1);
  const b = checkInput({ data: new Float32Array(12), shape: [3, 1, 2, 2] }, s, 10, scan);
  t.same([b.n, b.batched], [3, true]);
  t.throws(() => checkInput({ data: new Float32Array(44), shape: [11, 1, 2, 2] }, s, 10, scan), /batch dimension must be in \[1, 10\], got 11/);
  t.throws(() => checkInput({ data: new Float32Array(0), shape: [0, 1, 2, 2] }, s, 10, scan), { code: 'PARM_ERR_ENGINE_INPUT' });
  t.throws(() => checkInput({ data: new Float32Array(4), shape: [1, 2, 2.5] }, s, 10, scan), /non-negative integers/);
  t.throws(() => checkInput(new Int32Array(4), s, 10, scan), /got Int32Array/);
  t.throws(() => checkInput(new Float32Array([0, 1, NaN, 2]), s, 10, scan), /element 2 is NaN; non-finite inputs are rejected/);
  t.throws(() => checkInput(new Float32Array(5), s, 10, scan), /expected 4 floats/);
});

// Input checks of `infer`: one query or a batch, shapes and dtypes named in the message,
// non-finite values refused (they would poison a whole coding group's parity).
import t from 'tap';
import { checkInput } from '../../src/engine/input.js';
import { fakeCodec } from '../helpers/fake-codec.js';
import { query, startFake } from '../helpers/fake-engine-harness.js';
import { IN, ok } from '../helpers/fake-instances.js';

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

t.test('transferInput: the engine keeps the caller\'s buffer; otherwise, or for a view, it copies', async (t) => {
  const h = await startFake({ mode: 'none', instances: 1 }, () => ok(5));
  h.send(query(1));
  // The instance is busy: the next three wait in the queue, so writes made now show what the engine kept.
  const kept = query(2);
  const copied = query(3);
  const big = new Float32Array(IN * 2);
  big.set(query(4), IN);
  const view = big.subarray(IN);
  h.send(kept, { transferInput: true });
  h.send(copied);
  h.send(view, { transferInput: true });
  for (const x of [kept, copied, view]) x.fill(9);
  await h.run();
  const inputs = h.fleet.runs.map((r) => Array.from(r.input));
  t.same(inputs[1], Array(IN).fill(9), 'transferred: the instance ran on the caller\'s buffer');
  t.same(inputs[2], Array.from(query(3)), 'not transferred: a copy made at acceptance');
  t.same(inputs[3], Array.from(query(4)), 'a view on a larger buffer is copied even when transferred');
  t.rejects(h.engine.infer(query(5), { transferInput: 'yes' as never }), /options.transferInput/);
  await h.close();
});

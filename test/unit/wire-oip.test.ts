// The wire module's OIP helpers (src/wire/oip.ts): FP32 inputs, error answers, and reading an
// output tensor back from an answer (JSON data, or binary bytes at their offset among outputs).
import t from 'tap';
import { errorResponse, fp32Bytes, fp32Input, isReconstructed, readOutputTensor, type InferResponse } from '../../src/wire/index.js';

const values = Float32Array.from([0.5, -1.25, 3, 1e-7]);

t.test('FP32 inputs: binary announces the size, JSON carries the values', async (t) => {
  t.same(fp32Input('input', [1, 4], values, true), { name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } });
  const j = fp32Input('input', [1, 4], values, false);
  t.same(j.data, Array.from(values));
  t.notOk('parameters' in j);
  const view = fp32Bytes(values.subarray(1, 3));
  t.equal(view.length, 8);
  t.equal(view.buffer, values.buffer, 'a view of the tensor, no copy');
  t.same(new Float32Array(view.slice().buffer), values.subarray(1, 3));
});

t.test('error answers: id first when given, null included', async (t) => {
  t.equal(errorResponse('bad'), '{"error":"bad"}');
  t.equal(errorResponse('bad', null), '{"id":null,"error":"bad"}');
  t.equal(errorResponse('bad', 7), '{"id":7,"error":"bad"}');
  t.equal(errorResponse('say "no"', 'a'), '{"id":"a","error":"say \\"no\\""}');
});

t.test('reading outputs: JSON data, flat or nested', async (t) => {
  const res: Partial<InferResponse> = { outputs: [{ name: 'logits', shape: [1, 3], datatype: 'FP32', data: [[0, 3, 1]] }] };
  const r = readOutputTensor(res, new Uint8Array(0))!;
  t.same(Array.from(r.data), [0, 3, 1]);
  t.equal(r.output.name, 'logits');
  t.equal(readOutputTensor({ outputs: [] }, new Uint8Array(0)), undefined, 'no output');
  t.equal(readOutputTensor({}, new Uint8Array(0)), undefined, 'no outputs field');
  t.throws(() => readOutputTensor({ outputs: [{ name: 'o', shape: [2], datatype: 'FP32', data: [1, 'x'] }] }, new Uint8Array(0)), {
    name: 'TypeError',
    message: /output 'o': data holds "x", expected numbers/,
  });
});

t.test('reading outputs: binary bytes at their offset, copied and aligned', async (t) => {
  const a = Float32Array.from([1, 2]);
  const b = Float32Array.from([7, 8, 9]);
  // One byte of slack in front: the tensor bytes are unaligned in the buffer they arrive in.
  const tensors = new Uint8Array(1 + 20).subarray(1);
  tensors.set(fp32Bytes(a), 0);
  tensors.set(fp32Bytes(b), 8);
  const res: Partial<InferResponse> = {
    outputs: [
      { name: 'first', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'json', shape: [1], datatype: 'FP32', data: [5] },
      { name: 'logits', shape: [3], datatype: 'FP32', parameters: { binary_data_size: 12, parm_reconstructed: true } },
    ],
  };
  const r = readOutputTensor(res, tensors, 'logits')!;
  t.same(Array.from(r.data), [7, 8, 9], 'after the binary outputs before it; JSON outputs take no bytes');
  t.equal(r.data.byteOffset % 4, 0);
  tensors.fill(0);
  t.same(Array.from(r.data), [7, 8, 9], 'a copy, not a view of the transport bytes');
  t.equal(readOutputTensor(res, tensors, 'missing')!.output.name, 'first', 'an unknown name falls back to the first output');
  t.equal(isReconstructed(res, r.output), true, "the output's own flag");
  t.equal(isReconstructed(res), false);
  t.equal(isReconstructed({ parameters: { parm_reconstructed: true, parm_instance: 'parity-0', parm_latency_ms: 1 } }), true);
  t.throws(() => readOutputTensor(res, tensors.subarray(0, 16), 'logits'), { name: 'RangeError', message: /binary_data_size 12 at byte 8, but 16 tensor bytes follow the header/ });
  for (const size of [-4, 6, 1.5, '8']) {
    t.throws(
      () => readOutputTensor({ outputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: size as number } }] }, tensors),
      { name: 'RangeError', message: /binary_data_size must be a multiple of 4 bytes/ },
      String(size),
    );
  }
});

// The gRPC conversions without sockets: InferParameter maps to plain values, a ModelInferRequest
// (raw or typed) read by the server's one request reader as over HTTP, an engine answer as a
// ModelInferResponse (raw or typed, parm's parameters), and the gRPC status table.
import t from 'tap';
import { GRPC_STATUS, ParmError, grpcStatusOf } from '../../src/errors.js';
import { plainParameters, toModelInferResponse, toOipRequest } from '../../src/grpc/infer-messages.js';
import type { ModelInferRequest } from '../../src/grpc/service.js';
import { parseInferRequest } from '../../src/server/infer-request.js';
import type { InferResult } from '../../src/engine/types.js';
import { FAKE_INFO } from '../helpers/fake-engine.js';

function request(over: Partial<ModelInferRequest> = {}): ModelInferRequest {
  return { model_name: 'fake', model_version: '', id: '', parameters: {}, inputs: [], outputs: [], raw_input_contents: [], ...over };
}

const x = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 101 - 0.3);
const raw = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
const input = (contents: ModelInferRequest['inputs'][number]['contents'] = null) => ({ name: 'input', datatype: 'FP32', shape: ['1', '1', '28', '28'], parameters: {}, contents });

t.test('InferParameter values become plain values; unset ones are left out', async (t) => {
  t.same(
    plainParameters({
      a: { parameter_choice: 'bool_param', bool_param: true },
      b: { parameter_choice: 'int64_param', int64_param: '20' },
      c: { parameter_choice: 'string_param', string_param: 'deadline' },
      d: { parameter_choice: 'double_param', double_param: 2.5 },
      e: { parameter_choice: 'uint64_param', uint64_param: '7' },
      f: {},
    }),
    { a: true, b: 20, c: 'deadline', d: 2.5, e: 7 },
  );
  t.same(plainParameters(undefined), {});
});

t.test('a raw request reads as binary data, a typed one as JSON data: the same tensor', async (t) => {
  const r = toOipRequest(request({ id: 'q', inputs: [input()], raw_input_contents: [raw], parameters: { parm_deadline_ms: { parameter_choice: 'int64_param', int64_param: '15' } } }));
  t.equal(r.raw, true);
  t.equal(r.request.id, 'q');
  const pr = parseInferRequest(r.request, r.tensors, FAKE_INFO, { framing: 'binary', allowBinaryOutputs: true });
  t.same(Array.from(pr.data), Array.from(x));
  t.same(pr.decode, { kind: 'deadline', waitMs: 15 }, 'parm_deadline_ms through the one decode-policy reader');
  t.same(pr.outputs, [{ name: 'logits', binary: true }], 'raw in, raw out by default');

  const typed = toOipRequest(request({ inputs: [input({ fp32_contents: Array.from(x) })] }));
  t.equal(typed.raw, false);
  t.equal(typed.request.id, undefined, 'an empty id is no id');
  const pt = parseInferRequest(typed.request, typed.tensors, FAKE_INFO, { framing: 'json', allowBinaryOutputs: true });
  t.same(Array.from(pt.data), Array.from(x));
  t.same(pt.outputs, [{ name: 'logits', binary: false }], 'typed in, typed out by default');
});

t.test('raw contents: one entry per input, the size the shape needs, not both forms', async (t) => {
  t.throws(() => toOipRequest(request({ inputs: [input()], raw_input_contents: [raw, raw] })), { code: 'PARM_ERR_SERVER_BAD_REQUEST', message: /raw_input_contents has 2 entries; the request has 1 inputs/ });
  t.throws(() => toOipRequest(request({ inputs: [input()], raw_input_contents: [raw.subarray(0, 12)] })), { message: "raw_input_contents[0] has 12 bytes; input 'input' of shape [1, 1, 28, 28] FP32 needs 3136" });
  t.throws(() => toOipRequest(request({ inputs: [input({ fp32_contents: [1] })], raw_input_contents: [raw] })), { message: /both contents and raw_input_contents/ });
  // A wrong datatype or shape is left to the request reader, with HTTP's message.
  const r = toOipRequest(request({ inputs: [{ ...input(), datatype: 'INT8' }], raw_input_contents: [raw] }));
  t.throws(() => parseInferRequest(r.request, r.tensors, FAKE_INFO, { framing: 'binary', allowBinaryOutputs: true }), { message: `input 'input' has datatype "INT8"; the model expects FP32` });
  const neg = toOipRequest(request({ inputs: [{ ...input({ fp32_contents: [1] }), shape: ['-1', '1', '28', '28'] }] }));
  t.throws(() => parseInferRequest(neg.request, neg.tensors, FAKE_INFO, { framing: 'json', allowBinaryOutputs: true }), { message: /shape\[0\] must be a non-negative integer, got -1/ });
});

t.test('requested outputs and their parameters reach the reader', async (t) => {
  const r = toOipRequest(request({ inputs: [input({ fp32_contents: Array.from(x) })], outputs: [{ name: 'logits', parameters: { binary_data: { parameter_choice: 'bool_param', bool_param: true } } }] }));
  const p = parseInferRequest(r.request, r.tensors, FAKE_INFO, { framing: 'json', allowBinaryOutputs: true });
  t.same(p.outputs, [{ name: 'logits', binary: true }]);
  const bad = toOipRequest(request({ inputs: [input({ fp32_contents: Array.from(x) })], outputs: [{ name: 'probs', parameters: {} }] }));
  t.throws(() => parseInferRequest(bad.request, bad.tensors, FAKE_INFO, { framing: 'json', allowBinaryOutputs: true }), { message: /unknown output "probs"/ });
});

t.test('an answer as a ModelInferResponse: raw or typed, with the reconstructed flag, instance and latency', async (t) => {
  const out = Float32Array.from({ length: 10 }, (_, i) => i / 3 - 1);
  const result: InferResult = { output: out, shape: [10], reconstructed: true, latencyMs: 1.23456, instance: 'parity-0' };
  const req = { id: 'q', data: x, shape: [1, 1, 28, 28], decode: undefined, timeoutMs: undefined };
  const rawAnswer = toModelInferResponse({ ...req, outputs: [{ name: 'logits', binary: true }] }, result, FAKE_INFO);
  t.same(rawAnswer.parameters, { parm_reconstructed: { bool_param: true }, parm_instance: { string_param: 'parity-0' }, parm_latency_ms: { double_param: 1.235 } });
  t.same(rawAnswer.outputs, [{ name: 'logits', datatype: 'FP32', shape: [1, 10], parameters: { parm_reconstructed: { bool_param: true } } }]);
  t.equal(rawAnswer.raw_output_contents.length, 1);
  t.same(Array.from(new Float32Array(Uint8Array.from(rawAnswer.raw_output_contents[0]!).buffer)), Array.from(out));
  t.equal(rawAnswer.id, 'q');
  t.equal(rawAnswer.model_version, '1');

  const typed = toModelInferResponse({ ...req, id: 7, outputs: [{ name: 'logits', binary: false }] }, { ...result, reconstructed: false }, FAKE_INFO);
  t.same(typed.raw_output_contents, []);
  t.same(typed.outputs[0]!.contents, { fp32_contents: Array.from(out) });
  t.equal(typed.id, '7');
  t.same(typed.outputs[0]!.parameters, { parm_reconstructed: { bool_param: false } });
});

t.test('gRPC status codes follow the HTTP mapping; overload is RESOURCE_EXHAUSTED', async (t) => {
  const cases: [string, number][] = [
    ['PARM_ERR_SERVER_BAD_REQUEST', GRPC_STATUS.INVALID_ARGUMENT],
    ['PARM_ERR_ENGINE_INPUT', GRPC_STATUS.INVALID_ARGUMENT],
    ['PARM_ERR_SERVER_NOT_FOUND', GRPC_STATUS.NOT_FOUND],
    ['PARM_ERR_SERVER_TOO_LARGE', GRPC_STATUS.RESOURCE_EXHAUSTED],
    ['PARM_ERR_SERVER_NOT_READY', GRPC_STATUS.UNAVAILABLE],
    ['PARM_ERR_ENGINE_CLOSED', GRPC_STATUS.UNAVAILABLE],
    ['PARM_ERR_ENGINE_OVERLOADED', GRPC_STATUS.RESOURCE_EXHAUSTED],
    ['PARM_ERR_SERVER_OVERLOADED', GRPC_STATUS.RESOURCE_EXHAUSTED],
    ['PARM_ERR_ENGINE_TIMEOUT', GRPC_STATUS.DEADLINE_EXCEEDED],
    ['PARM_ERR_ENGINE_CANCELLED', GRPC_STATUS.CANCELLED],
    ['PARM_ERR_ENGINE_INSTANCE', GRPC_STATUS.INTERNAL],
  ];
  for (const [code, want] of cases) t.equal(grpcStatusOf(new ParmError(code as ParmError['code'], 'x')), want, code);
  t.equal(grpcStatusOf(new Error('boom')), GRPC_STATUS.INTERNAL, 'anything unexpected');
});

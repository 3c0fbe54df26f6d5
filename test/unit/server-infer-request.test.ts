// The server's reading of OIP inference requests (src/server/infer-request.ts) and its encoding of
// answers (src/server/infer-response.ts), against the fake engine's model: every field validated
// with a precise message, and (property tests) any message gives a request or a ParmError.
import fc from 'fast-check';
import t from 'tap';
import type { ModelInfo } from '../../src/engine/types.js';
import { parseInferRequest as parseRequest, readRequestHeader, type ProtocolLimits } from '../../src/server/infer-request.js';
import { encodeInferResponse } from '../../src/server/infer-response.js';
import { encodeFrame, readMessage, type Framing } from '../../src/wire/index.js';
import { FAKE_INFO } from '../helpers/fake-engine.js';
import { outcome as code, valueOrParmError } from '../helpers/outcome.js';

const jsonOpts = { framing: 'json' as const, allowBinaryOutputs: true };

/** The parser as the fronts call it: the request header (object, id) first, then the rest. */
function parseInferRequest(header: unknown, tensors: Uint8Array, info: ModelInfo, opts: { framing: Framing; allowBinaryOutputs: boolean; limits?: ProtocolLimits }) {
  return parseRequest(readRequestHeader(header), tensors, info, opts);
}

function image(seed: number, n = 1): Float32Array {
  const a = new Float32Array(784 * n);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 7919 + seed * 104729) % 1000) / 1000 + 0.0001;
  return a;
}

function req(data: unknown, extra: Record<string, unknown> = {}, shape = [1, 1, 28, 28]) {
  return { id: 'r1', inputs: [{ name: 'input', shape, datatype: 'FP32', data }], ...extra };
}

t.test('flat and nested JSON data give the same tensor', async (t) => {
  const img = image(3);
  const flat = parseInferRequest(req(Array.from(img)), new Uint8Array(0), FAKE_INFO, jsonOpts);
  t.same(Array.from(flat.data), Array.from(img));
  t.same(flat.shape, [1, 1, 28, 28]);
  t.equal(flat.id, 'r1');
  const nested = [[[...Array(28).keys()].map((y) => Array.from(img.subarray(y * 28, y * 28 + 28)))]];
  const n = parseInferRequest(req(nested), new Uint8Array(0), FAKE_INFO, jsonOpts);
  t.same(Array.from(n.data), Array.from(flat.data));
  t.same(n.outputs, [{ name: 'logits', binary: false }]);
});

t.test('binary input is copied into an aligned buffer', async (t) => {
  const img = image(5, 2);
  // Misalign the tensor bytes by one byte inside a larger buffer.
  const backing = new Uint8Array(img.byteLength + 1);
  backing.set(new Uint8Array(img.buffer), 1);
  const h = { id: 7, inputs: [{ name: 'input', shape: [2, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: img.byteLength } }] };
  const p = parseInferRequest(h, backing.subarray(1), FAKE_INFO, { framing: 'binary', allowBinaryOutputs: true });
  t.same(Array.from(p.data), Array.from(img));
  backing.fill(0);
  t.same(Array.from(p.data.subarray(0, 3)), Array.from(img.subarray(0, 3)), 'no alias of the transport bytes');
  t.equal(p.id, 7);
  t.same(p.outputs, [{ name: 'logits', binary: true }], 'binary frames default to binary outputs');
});

t.test('every malformed request gets a precise 400-class error', async (t) => {
  const img = Array.from(image(1));
  const none = new Uint8Array(0);
  const cases: Array<[string, unknown, Uint8Array, RegExp]> = [
    ['not an object', [1, 2], none, /must be a JSON object/],
    ['no inputs', { id: 'a' }, none, /'inputs' must be a non-empty array/],
    ['wrong input name', { inputs: [{ name: 'x', shape: [1, 1, 28, 28], datatype: 'FP32', data: img }] }, none, /unknown input "x"/],
    ['wrong datatype', { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'INT32', data: img }] }, none, /datatype "INT32"; the model expects FP32/],
    ['wrong rank', req(img, {}, [1, 784]), none, /shape \[1, 784\]; the model expects \[-1, 1, 28, 28\]/],
    ['wrong dim', req(img, {}, [1, 1, 28, 27]), none, /the model expects/],
    ['zero batch', req([], {}, [0, 1, 28, 28]), none, /batch size >= 1/],
    ['short data', req(img.slice(1)), none, /data has 783 elements; shape \[1, 1, 28, 28\] needs 784/],
    ['string in data', req([...img.slice(1), 'x']), none, /data\[783\] must be a number/],
    ['bad nesting', req([[1, 2]]), none, /nested data\[0\] must be an array of length 1/],
    ['negative shape', req(img, {}, [-1, 1, 28, 28]), none, /shape\[0\] must be a non-negative integer/],
    ['bad id', { ...req(img), id: {} }, none, /'id' must be a string or a finite number/],
    ['bad decode', req(img, { parameters: { parm_decode: 'never' } }), none, /parm_decode must be "first" or "deadline"/],
    ['deadline without ms', req(img, { parameters: { parm_decode: 'deadline' } }), none, /needs parm_deadline_ms/],
    ['bad binary_data_output', req(img, { parameters: { binary_data_output: 'yes' } }), none, /binary_data_output must be a boolean/],
    ['unknown output', req(img, { outputs: [{ name: 'probs' }] }), none, /unknown output "probs"/],
    [
      'binary size mismatch with shape',
      { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 100 } }] },
      new Uint8Array(100),
      /binary_data_size 100 does not match shape \[1, 1, 28, 28\] of FP32 \(3136 bytes\)/,
    ],
    [
      'binary bytes missing',
      { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] },
      new Uint8Array(3000),
      /binary_data_size 3136 but 3000 bytes of tensor data follow/,
    ],
    ['trailing bytes', req(img), new Uint8Array(8), /8 bytes of binary data follow the header but no input has binary_data_size/],
    ['no data', { inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32' }] }, none, /neither data nor parameters.binary_data_size/],
  ];
  for (const [name, header, bin, re] of cases) {
    t.match(code(() => parseInferRequest(header, bin, FAKE_INFO, jsonOpts)), new RegExp(`^PARM_ERR_SERVER_BAD_REQUEST: .*${re.source}`), name);
  }
  t.match(
    code(() => parseInferRequest(req([], {}, [5000, 1, 28, 28]), none, FAKE_INFO, jsonOpts)),
    /^PARM_ERR_SERVER_TOO_LARGE: input 'input' has batch size 5000, above the limit of 1024/,
  );
  t.match(
    code(() => parseInferRequest(req(img, { parameters: { binary_data_output: true } }), none, FAKE_INFO, { framing: 'json', allowBinaryOutputs: false })),
    /binary outputs need a binary frame/,
  );
});

t.test('decode policy parameters', async (t) => {
  const img = Array.from(image(2));
  const none = new Uint8Array(0);
  t.same(parseInferRequest(req(img), none, FAKE_INFO, jsonOpts).decode, undefined);
  t.same(parseInferRequest(req(img, { parameters: { parm_decode: 'first' } }), none, FAKE_INFO, jsonOpts).decode, { kind: 'first' });
  t.same(parseInferRequest(req(img, { parameters: { parm_deadline_ms: 25 } }), none, FAKE_INFO, jsonOpts).decode, { kind: 'deadline', waitMs: 25 });
  const p = parseInferRequest(req(img, { parameters: { parm_decode: 'deadline', parm_deadline_ms: 0, parm_timeout_ms: 500, other: 'ignored' } }), none, FAKE_INFO, jsonOpts);
  t.same(p.decode, { kind: 'deadline', waitMs: 0 });
  t.equal(p.timeoutMs, 500);
});

t.test('responses carry parm_reconstructed and the right shape', async (t) => {
  const p = parseInferRequest(req(Array.from(image(1))), new Uint8Array(0), FAKE_INFO, jsonOpts);
  const output = Float32Array.from({ length: 10 }, (_, i) => Math.fround(i / 3));
  const enc = encodeInferResponse(p, { output, shape: [10], reconstructed: true, latencyMs: 1.23456, instance: 'parity-0' }, FAKE_INFO);
  t.same(enc.chunks, []);
  const body = JSON.parse(enc.header);
  t.same(body.parameters, { parm_reconstructed: true, parm_instance: 'parity-0', parm_latency_ms: 1.235 });
  t.equal(body.id, 'r1');
  t.equal(body.model_name, 'fake');
  t.same(body.outputs[0].shape, [1, 10]);
  t.same(body.outputs[0].parameters, { parm_reconstructed: true });
  t.same(Float32Array.from(body.outputs[0].data), output, 'JSON numbers round-trip to the same float32');

  const pb = { ...p, outputs: [{ name: 'logits', binary: true }] };
  const encb = encodeInferResponse(pb, { output, shape: [10], reconstructed: false, latencyMs: 1, instance: 'deployed-0' }, FAKE_INFO);
  const hb = JSON.parse(encb.header);
  t.same(hb.outputs[0].parameters, { binary_data_size: 40, parm_reconstructed: false });
  t.notOk('data' in hb.outputs[0]);
  t.same(new Float32Array(Uint8Array.from(Buffer.concat(encb.chunks)).buffer), output);
});

t.test('the response header is the JSON of the response object, keys in protocol order', async (t) => {
  const p = parseInferRequest(req(Array.from(image(1))), new Uint8Array(0), FAKE_INFO, jsonOpts);
  const output = Float32Array.from({ length: 10 }, (_, i) => (i === 3 ? NaN : Math.fround(i / 7) - 0.5));
  const cases = [
    { req: p, result: { output, shape: [10], reconstructed: true, latencyMs: 0.0004, instance: 'parity-"0"' } },
    { req: { ...p, id: 7, outputs: [{ name: 'logits', binary: true }] }, result: { output, shape: [1, 10], reconstructed: false, latencyMs: 12.3456789, instance: 'deployed-1' } },
    { req: { ...p, id: undefined, outputs: [{ name: 'logits', binary: true }, { name: 'logits', binary: false }] }, result: { output, shape: [10], reconstructed: false, latencyMs: 3, instance: 'd' } },
  ];
  for (const c of cases) {
    const rec = c.result.reconstructed;
    const shape = c.result.shape.length === 2 ? c.result.shape : [1, ...c.result.shape];
    const expected: Record<string, unknown> = { model_name: FAKE_INFO.name, model_version: FAKE_INFO.version };
    if (c.req.id !== undefined) expected.id = c.req.id;
    expected.parameters = { parm_reconstructed: rec, parm_instance: c.result.instance, parm_latency_ms: Math.round(c.result.latencyMs * 1000) / 1000 };
    expected.outputs = c.req.outputs.map((o) =>
      o.binary
        ? { name: o.name, datatype: 'FP32', shape, parameters: { binary_data_size: 40, parm_reconstructed: rec } }
        : { name: o.name, datatype: 'FP32', shape, parameters: { parm_reconstructed: rec }, data: Array.from(output) },
    );
    t.equal(encodeInferResponse(c.req, c.result, FAKE_INFO).header, JSON.stringify(expected), `id ${String(c.req.id)}, ${c.req.outputs.length} output(s)`);
  }
});

t.test('the id: read once, a string or a finite number, null counts as absent', async (t) => {
  t.same(readRequestHeader({ id: 'a' }).id, 'a');
  t.same(readRequestHeader({ id: 0 }).id, 0);
  t.same(readRequestHeader({ id: '' }).id, '', 'an empty id is an id (the stream refuses it, HTTP echoes it)');
  t.equal(readRequestHeader({ id: null }).id, undefined);
  t.equal(readRequestHeader({}).id, undefined);
  for (const bad of [{}, [], true, 1e400]) {
    t.match(code(() => readRequestHeader({ id: bad })), /^PARM_ERR_SERVER_BAD_REQUEST: 'id' must be a string or a finite number/, JSON.stringify(bad));
  }
  for (const notObject of [null, [1], 'x', 3]) {
    t.match(code(() => readRequestHeader(notObject)), /^PARM_ERR_SERVER_BAD_REQUEST: the inference request must be a JSON object/);
  }
  const p = parseRequest({ id: 'kept', fields: { id: 'ignored', inputs: req(Array.from(image(1))).inputs } }, new Uint8Array(0), FAKE_INFO, jsonOpts);
  t.equal(p.id, 'kept', 'the parser takes the id already read, it does not read it again');
});

/** Parses a whole stream message the way the stream does; a ParmError is an accepted outcome. */
function parseMessage(bytes: Uint8Array, isBinary: boolean): boolean {
  return valueOrParmError(() => {
    const { header, tensors } = readMessage(bytes, isBinary);
    parseInferRequest(header, tensors, FAKE_INFO, { framing: isBinary ? 'binary' : 'json', allowBinaryOutputs: isBinary, limits: { maxBatch: 4 } });
  });
}

t.test('property: any bytes, as a text or a binary message, give a request or a ParmError', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), fc.boolean(), (b, isBinary) => parseMessage(b, isBinary)));
  t.pass('no exception other than ParmError');
});

t.test('property: any JSON header, with or without tensor bytes, gives a request or a ParmError', async (t) => {
  const text = new TextEncoder();
  fc.assert(
    fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), (header, tail) => {
      const json = JSON.stringify(header);
      return parseMessage(text.encode(json), false) && parseMessage(encodeFrame(json, [tail]), true);
    }),
  );
  t.pass('no exception other than ParmError');
});

/** Sets `value` at a dotted path of a JSON value, where the parent exists and is an object or array. */
function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node: unknown = root;
  for (const k of keys.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string, unknown>)[k];
  }
  if (typeof node === 'object' && node !== null) (node as Record<string, unknown>)[keys[keys.length - 1]!] = value;
}

const MUTABLE = [
  'id', 'inputs', 'inputs.0', 'inputs.0.name', 'inputs.0.datatype', 'inputs.0.shape', 'inputs.0.shape.0', 'inputs.0.shape.3',
  'inputs.0.data', 'inputs.0.data.5', 'inputs.0.parameters', 'inputs.0.parameters.binary_data_size', 'inputs.1', 'outputs',
  'outputs.0', 'outputs.0.name', 'outputs.0.parameters', 'outputs.0.parameters.binary_data', 'parameters', 'parameters.parm_decode',
  'parameters.parm_deadline_ms', 'parameters.parm_timeout_ms', 'parameters.binary_data_output',
];

t.test('property: valid requests with random fields broken parse or fail with a ParmError', async (t) => {
  const text = new TextEncoder();
  const img = image(4);
  const valid = (binary: boolean): Record<string, unknown> => ({
    id: 'p',
    inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', ...(binary ? { parameters: { binary_data_size: 3136 } } : { data: Array.from(img) }) }],
    outputs: [{ name: 'logits', parameters: { binary_data: binary } }],
    parameters: { parm_decode: 'deadline', parm_deadline_ms: 5, parm_timeout_ms: 100 },
  });
  const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined), fc.constantFrom(0, -1, 1.5, 1e300, 2 ** 53, '', 'FP32', 'deadline', 3136));
  const mutation = fc.tuple(fc.constantFrom(...MUTABLE), value);
  const cut = fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 3136 }), weight: 1 });
  let parsed = 0;
  let runs = 0;
  fc.assert(
    fc.property(fc.boolean(), fc.array(mutation, { maxLength: 3 }), cut, (isBinary, mutations, cutBytes) => {
      runs++;
      const h = valid(isBinary);
      for (const [path, v] of mutations) setPath(h, path, v);
      const json = JSON.stringify(h);
      const tail = isBinary ? new Uint8Array(img.buffer).subarray(0, 3136 - cutBytes) : new Uint8Array(0);
      const message = isBinary ? encodeFrame(json, [tail]) : text.encode(json);
      const ok = parseMessage(message, isBinary);
      try {
        parseInferRequest(JSON.parse(json), tail, FAKE_INFO, { framing: isBinary ? 'binary' : 'json', allowBinaryOutputs: isBinary });
        parsed++;
      } catch {
        /* a ParmError: parseMessage checked the kind */
      }
      return ok;
    }),
    { numRuns: 1000 },
  );
  t.ok(parsed > runs / 10 && parsed < runs, `${parsed} of ${runs} generated requests parsed: the generator covers both sides`);
});

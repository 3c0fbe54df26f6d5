// The wire module's byte layouts (src/wire/frame.ts): binary frames and binary-extension HTTP
// bodies round-trip, every malformed input is a ParmError with the numbers in its message, and
// (property tests) any bytes at all give a value or a ParmError, never another exception.
import fc from 'fast-check';
import t from 'tap';
import { FRAME_PREFIX_BYTES, decodeFrame, encodeFrame, encodeFrameInto, encodeHttpBody, parseJsonBytes, readHttpBody, readMessage, splitHttpBody } from '../../src/wire/index.js';
import { outcome, valueOrParmError } from '../helpers/outcome.js';

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

t.test('binary frame: layout and round trip', async (t) => {
  const frame = encodeFrame('{"id":"x"}', [new Uint8Array([9, 8]), new Uint8Array([7])]);
  t.equal(frame.length, 4 + 10 + 3);
  t.same(Array.from(frame.subarray(0, 4)), [10, 0, 0, 0], 'header length, little-endian');
  const d = decodeFrame(frame);
  t.equal(text.decode(d.header), '{"id":"x"}');
  t.same(Array.from(d.tensors), [9, 8, 7], 'tensors concatenated in order');
  t.equal(d.header.buffer, frame.buffer, 'views into the frame, no copy');
});

t.test('binary frame: empty tensor, empty header, a frame inside a larger buffer', async (t) => {
  const noTensor = decodeFrame(encodeFrame('{}'));
  t.equal(noTensor.tensors.length, 0);
  t.equal(text.decode(noTensor.header), '{}');
  const emptyChunks = decodeFrame(encodeFrame('{}', [new Uint8Array(0), new Uint8Array(0)]));
  t.equal(emptyChunks.tensors.length, 0, 'empty tensors add no bytes');
  const noHeader = decodeFrame(encodeFrame('', [new Uint8Array([1])]));
  t.equal(noHeader.header.length, 0);
  t.same(Array.from(noHeader.tensors), [1]);
  // A frame that starts at an odd offset of a larger buffer (as a transport may hand it over).
  const inner = encodeFrame('{"a":1}', [new Uint8Array([5, 6])]);
  const backing = new Uint8Array(inner.length + 3);
  backing.set(inner, 1);
  const view = decodeFrame(backing.subarray(1, 1 + inner.length));
  t.equal(text.decode(view.header), '{"a":1}');
  t.same(Array.from(view.tensors), [5, 6]);
});

t.test('binary frame: large and non-ASCII headers', async (t) => {
  const big = JSON.stringify({ id: 'y'.repeat(300_000), note: 'größe ✓ 𝄞' });
  const f = encodeFrame(big, [new Uint8Array(4096).fill(3)]);
  const n = new DataView(f.buffer).getUint32(0, true);
  t.equal(n, bytes(big).length, 'the prefix counts UTF-8 bytes, not characters');
  t.ok(n > 0xffff, 'a header length that needs more than two bytes');
  const d = decodeFrame(f);
  t.equal(text.decode(d.header), big);
  t.equal(d.tensors.length, 4096);
  t.ok(d.tensors.every((b) => b === 3));
  t.same(encodeFrame(bytes('{"b":2}')), encodeFrame('{"b":2}'), 'a header given as bytes is the same frame');
});

t.test('binary frame: truncated frames and header lengths beyond the frame', async (t) => {
  for (const n of [0, 1, 2, 3]) {
    t.match(outcome(() => decodeFrame(new Uint8Array(n))), new RegExp(`^PARM_ERR_SERVER_PROTOCOL: binary frame of ${n} bytes has no 4-byte header length$`), `${n} bytes`);
  }
  const lying = new Uint8Array(20);
  new DataView(lying.buffer).setUint32(0, 1000, true);
  t.equal(outcome(() => decodeFrame(lying)), 'PARM_ERR_SERVER_PROTOCOL: header length 1000 exceeds the frame (16 bytes after the prefix)');
  const max = new Uint8Array(8).fill(0xff);
  t.match(outcome(() => decodeFrame(max)), /header length 4294967295 exceeds the frame \(4 bytes/, 'the largest length reads unsigned');
  // Cut a valid frame anywhere inside its header: always a framing violation.
  const whole = encodeFrame('{"id":"cut"}', [new Uint8Array(8)]);
  for (let cut = FRAME_PREFIX_BYTES; cut < FRAME_PREFIX_BYTES + 12; cut++) {
    t.match(outcome(() => decodeFrame(whole.subarray(0, cut))), /^PARM_ERR_SERVER_PROTOCOL: header length 12 exceeds the frame/);
  }
  // Cut inside the tensor bytes: the frame splits; the tensors are short (the request parser says so).
  t.equal(decodeFrame(whole.subarray(0, whole.length - 3)).tensors.length, 5);
});

t.test('HTTP body of the binary extension', async (t) => {
  const { body, headerLength } = encodeHttpBody('{"inputs":[]}', [new Uint8Array([1, 2, 3, 4])]);
  t.equal(headerLength, 13);
  t.equal(body.length, 17);
  const s = splitHttpBody(body, String(headerLength));
  t.equal(text.decode(s.header), '{"inputs":[]}');
  t.same(Array.from(s.tensors), [1, 2, 3, 4]);
  t.same(readHttpBody(body, ` ${headerLength} `).header, { inputs: [] }, 'surrounding spaces are allowed');
  const plain = encodeHttpBody('{"a":1}');
  t.equal(text.decode(plain.body), '{"a":1}', 'no tensors: the body is the JSON');
  for (const absent of [undefined, null, '']) t.same(readHttpBody(plain.body, absent), { header: { a: 1 }, tensors: new Uint8Array(0) });
  t.equal(outcome(() => splitHttpBody(body, '9999')), 'PARM_ERR_SERVER_BAD_REQUEST: Inference-Header-Content-Length 9999 exceeds the body length 17');
  for (const bad of ['abc', '-1', '1.5', '0x10']) {
    t.match(outcome(() => splitHttpBody(body, bad)), /^PARM_ERR_SERVER_BAD_REQUEST: Inference-Header-Content-Length must be a non-negative integer/, bad);
  }
  t.match(outcome(() => readHttpBody(bytes('{"inputs": [1,'), undefined)), /^PARM_ERR_SERVER_BAD_REQUEST: malformed JSON in request body/);
  t.match(outcome(() => readHttpBody(body, '5')), /^PARM_ERR_SERVER_BAD_REQUEST: malformed JSON in inference header/);
  t.match(outcome(() => readHttpBody(bytes('{'), null, 'response body')), /malformed JSON in response body/);
});

t.test('message headers: JSON in UTF-8, named in every error', async (t) => {
  t.same(readMessage(bytes('{"id":1}'), false), { header: { id: 1 }, tensors: new Uint8Array(0) });
  const m = readMessage(encodeFrame('[1,2]', [new Uint8Array([7])]), true);
  t.same(m.header, [1, 2]);
  t.same(Array.from(m.tensors), [7]);
  t.equal(outcome(() => parseJsonBytes(new Uint8Array([0xff, 0xfe, 0x00]), 'text frame')), 'PARM_ERR_SERVER_BAD_REQUEST: text frame is not valid UTF-8');
  t.match(outcome(() => readMessage(bytes('{"id": "x", "inputs": ['), false)), /^PARM_ERR_SERVER_BAD_REQUEST: malformed JSON in text frame/);
  t.match(outcome(() => readMessage(encodeFrame('{"id": "q", "inp'), true)), /^PARM_ERR_SERVER_BAD_REQUEST: malformed JSON in frame header/);
  t.match(outcome(() => readMessage(new Uint8Array([1, 0]), true)), /^PARM_ERR_SERVER_PROTOCOL: /, 'framing errors keep their own code');
});

t.test('property: any header and tensors round-trip through a frame and an HTTP body', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (header, tensors) => {
      const joined = Uint8Array.from(tensors.flatMap((x) => Array.from(x)));
      const d = decodeFrame(encodeFrame(header, tensors));
      const { body, headerLength } = encodeHttpBody(header, tensors);
      const h = splitHttpBody(body, String(headerLength));
      return (
        text.decode(d.header) === header &&
        Buffer.from(d.tensors).equals(joined) &&
        text.decode(h.header) === header &&
        Buffer.from(h.tensors).equals(joined)
      );
    }),
  );
  t.pass('round trips hold');
});

t.test('property: any bytes decode to a value or a ParmError, never another exception', async (t) => {
  const anyBytes = fc.uint8Array({ maxLength: 96 });
  // Frames whose prefix is near the real length hit the edges more often than random prefixes.
  const nearFrames = fc.tuple(fc.integer({ min: -3, max: 3 }), fc.uint8Array({ maxLength: 64 })).map(([delta, rest]) => {
    const f = new Uint8Array(4 + rest.length);
    new DataView(f.buffer).setUint32(0, Math.max(0, rest.length + delta), true);
    f.set(rest, 4);
    return f;
  });
  fc.assert(fc.property(fc.oneof(anyBytes, nearFrames), fc.boolean(), (b, isBinary) => valueOrParmError(() => readMessage(b, isBinary))));
  fc.assert(fc.property(fc.oneof(anyBytes, nearFrames), (b) => valueOrParmError(() => decodeFrame(b))));
  fc.assert(
    fc.property(anyBytes, fc.oneof(fc.constant(undefined), fc.string({ maxLength: 6 }), fc.nat({ max: 200 }).map(String)), (b, hl) =>
      valueOrParmError(() => readHttpBody(b, hl)),
    ),
  );
  t.pass('no exception other than ParmError');
});

t.test('encodeFrameInto writes the same frame into a reused buffer, or -1 when it does not fit', async (t) => {
  const tensor = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  for (const header of ['{"id":"a"}', '{"id":"é ✓"}']) {
    const want = encodeFrame(header, [tensor]);
    const out = new Uint8Array(want.length + 5).fill(0xee);
    const n = encodeFrameInto(out, header, [tensor]);
    t.equal(n, want.length, `${header}: the frame's length`);
    t.same(out.subarray(0, n), want, `${header}: byte for byte what encodeFrame builds`);
    t.equal(encodeFrameInto(new Uint8Array(want.length - 1), header, [tensor]), -1, `${header}: one byte short does not fit`);
  }
});

// The byte layouts of the wire, implemented once for the server, the client, the benchmarks and
// the tests: the WebSocket binary frame (uint32 little-endian header length, JSON header, raw
// tensor bytes), the HTTP body of Triton's binary tensor extension (JSON header, raw tensor
// bytes; the header length travels in Inference-Header-Content-Length), and reading the JSON
// header of either. Uint8Array, DataView and TextEncoder only: no Node APIs, no I/O.
import { ParmError } from '../errors.js';

/** Bytes of the header-length prefix of a binary frame. */
export const FRAME_PREFIX_BYTES = 4;

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A message split into its JSON header and the tensor bytes after it (views, not copies). */
export interface SplitMessage {
  header: Uint8Array;
  tensors: Uint8Array;
}

/** A message with its header parsed: `header` is whatever JSON value it held. */
export interface ReadMessage {
  header: unknown;
  tensors: Uint8Array;
}

function textBytes(text: string | Uint8Array): Uint8Array {
  return typeof text === 'string' ? encoder.encode(text) : text;
}

/** `prefix` bytes of room, then the header, then every tensor, in one fresh buffer. */
function join(prefix: number, header: Uint8Array, tensors: readonly Uint8Array[]): Uint8Array {
  let total = prefix + header.length;
  for (const t of tensors) total += t.length;
  const out = new Uint8Array(total);
  out.set(header, prefix);
  let off = prefix + header.length;
  for (const t of tensors) {
    out.set(t, off);
    off += t.length;
  }
  return out;
}

/** Little-endian uint32 at the start of `b` (which has at least 4 bytes). */
function readPrefix(b: Uint8Array): number {
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

function writePrefix(b: Uint8Array, n: number): void {
  b[0] = n & 0xff;
  b[1] = (n >>> 8) & 0xff;
  b[2] = (n >>> 16) & 0xff;
  b[3] = (n >>> 24) & 0xff;
}

/**
 * Builds a binary frame. The header can be at most 2^32 - 1 bytes, which no JavaScript string
 * reaches (V8 strings stop near 2^29 characters, at most 3 UTF-8 bytes each).
 */
export function encodeFrame(header: string | Uint8Array, tensors: readonly Uint8Array[] = []): Uint8Array {
  if (typeof header === 'string') {
    // Hot path (every binary answer): an ASCII header of n characters is n bytes, so it is
    // encoded straight into a frame of that size; a header with other characters does not fit
    // and takes the general path.
    let tensorBytes = 0;
    for (const t of tensors) tensorBytes += t.length;
    const out = new Uint8Array(FRAME_PREFIX_BYTES + header.length + tensorBytes);
    if (encodeFrameInto(out, header, tensors) === out.length) return out;
  }
  const h = textBytes(header);
  const out = join(FRAME_PREFIX_BYTES, h, tensors);
  writePrefix(out, h.length);
  return out;
}

/**
 * Writes a binary frame into `out` from its start (a buffer the caller reuses); returns the
 * frame's length, or -1 when it does not fit.
 */
export function encodeFrameInto(out: Uint8Array, header: string, tensors: readonly Uint8Array[] = []): number {
  let tensorBytes = 0;
  for (const t of tensors) tensorBytes += t.length;
  const room = out.length - FRAME_PREFIX_BYTES - tensorBytes;
  if (room < header.length) return -1;
  const { read, written } = encoder.encodeInto(header, out.subarray(FRAME_PREFIX_BYTES, FRAME_PREFIX_BYTES + room));
  if (read !== header.length) return -1;
  writePrefix(out, written);
  let off = FRAME_PREFIX_BYTES + written;
  for (const t of tensors) {
    out.set(t, off);
    off += t.length;
  }
  return off;
}

/**
 * Splits a binary frame. A frame that cannot be split is a framing violation
 * (PARM_ERR_SERVER_PROTOCOL: the server closes the connection).
 */
export function decodeFrame(frame: Uint8Array): SplitMessage {
  if (frame.length < FRAME_PREFIX_BYTES) {
    throw new ParmError('PARM_ERR_SERVER_PROTOCOL', `binary frame of ${frame.length} bytes has no 4-byte header length`);
  }
  const len = readPrefix(frame);
  const after = frame.length - FRAME_PREFIX_BYTES;
  if (len > after) {
    throw new ParmError('PARM_ERR_SERVER_PROTOCOL', `header length ${len} exceeds the frame (${after} bytes after the prefix)`);
  }
  const end = FRAME_PREFIX_BYTES + len;
  return { header: frame.subarray(FRAME_PREFIX_BYTES, end), tensors: frame.subarray(end) };
}

/** Builds an HTTP body of the binary extension; `headerLength` goes in Inference-Header-Content-Length. */
export function encodeHttpBody(header: string | Uint8Array, tensors: readonly Uint8Array[] = []): { body: Uint8Array; headerLength: number } {
  const h = textBytes(header);
  return { body: tensors.length === 0 ? h : join(0, h, tensors), headerLength: h.length };
}

function isAbsent(headerLength: string | null | undefined): headerLength is '' | null | undefined {
  return headerLength === undefined || headerLength === null || headerLength === '';
}

/**
 * Splits an HTTP body by its Inference-Header-Content-Length value (undefined, null or '' when
 * the header is absent: the whole body is JSON, no tensor bytes).
 */
export function splitHttpBody(body: Uint8Array, headerLength: string | null | undefined): SplitMessage {
  if (isAbsent(headerLength)) return { header: body, tensors: body.subarray(body.length) };
  const text = headerLength.trim();
  if (!/^\d+$/.test(text)) {
    throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `Inference-Header-Content-Length must be a non-negative integer, got '${headerLength}'`);
  }
  const n = Number(text);
  if (n > body.length) {
    throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `Inference-Header-Content-Length ${n} exceeds the body length ${body.length}`);
  }
  return { header: body.subarray(0, n), tensors: body.subarray(n) };
}

/** JSON.parse of UTF-8 bytes; `what` names the bytes in the PARM_ERR_SERVER_BAD_REQUEST message. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `malformed JSON in ${what}: ${(err as Error).message}`);
  }
}

/** Reads one WebSocket message: a binary frame, or a text frame that is all JSON. */
export function readMessage(bytes: Uint8Array, isBinary: boolean): ReadMessage {
  if (!isBinary) return { header: parseJsonBytes(bytes, 'text frame'), tensors: bytes.subarray(bytes.length) };
  const split = decodeFrame(bytes);
  return { header: parseJsonBytes(split.header, 'frame header'), tensors: split.tensors };
}

/** Reads one HTTP body; `bodyName` names it in errors when it is all JSON ('request body', 'response body'). */
export function readHttpBody(body: Uint8Array, headerLength: string | null | undefined, bodyName = 'request body'): ReadMessage {
  const split = splitHttpBody(body, headerLength);
  return { header: parseJsonBytes(split.header, isAbsent(headerLength) ? bodyName : 'inference header'), tensors: split.tensors };
}

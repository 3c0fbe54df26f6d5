// Open Inference Protocol v2 messages: parse and validate inference requests (JSON tensors or
// Triton's binary tensor extension), and encode responses. Pure functions, no I/O, so the HTTP
// and WebSocket fronts share one validator and one encoder. docs/protocol.md is the contract.
import { ParmError } from '../errors.js';
import type { DecodePolicy, InferResult, ModelInfo } from '../engine/types.js';

/** Limits the validator enforces; every field has a default in DEFAULT_PROTOCOL_LIMITS. */
export interface ProtocolLimits {
  /** Largest leading (batch) dimension accepted in one request. */
  maxBatch: number;
}

export const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = { maxBatch: 1024 };

/** The id a client gave: OIP says string; the stream also accepts a finite number (echoed as given). */
export type RequestId = string | number;

export interface RequestedOutput {
  name: string;
  /** Send this output as binary data (binary extension) rather than JSON `data`. */
  binary: boolean;
}

export interface ParsedInferRequest {
  id: RequestId | undefined;
  /** The one input tensor, copied into its own aligned buffer (safe after the transport frees its bytes). */
  data: Float32Array;
  /** Full shape as sent, leading dimension = batch size. */
  shape: number[];
  outputs: RequestedOutput[];
  decode: DecodePolicy | undefined;
  timeoutMs: number | undefined;
}

/** How the request arrived, which decides the defaults for output encoding. */
export type Framing = 'json' | 'binary';

const utf8 = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): ParmError {
  return new ParmError('PARM_ERR_SERVER_BAD_REQUEST', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON.parse of UTF-8 bytes with a precise 400 on failure. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw bad(`${what} is not valid UTF-8`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bad(`malformed JSON in ${what}: ${(err as Error).message}`);
  }
}

/**
 * Splits an HTTP inference body. `headerLength` is the Inference-Header-Content-Length header
 * (undefined when absent: the whole body is JSON). Returns the parsed JSON header and the bytes
 * after it (the binary tensor data, possibly empty).
 */
export function splitHttpBody(body: Uint8Array, headerLength: string | undefined): { header: unknown; binary: Uint8Array } {
  if (headerLength === undefined || headerLength === '') {
    return { header: parseJsonBytes(body, 'request body'), binary: body.subarray(body.length) };
  }
  if (!/^\d+$/.test(headerLength.trim())) {
    throw bad(`Inference-Header-Content-Length must be a non-negative integer, got '${headerLength}'`);
  }
  const n = Number(headerLength.trim());
  if (n > body.length) {
    throw bad(`Inference-Header-Content-Length ${n} exceeds the body length ${body.length}`);
  }
  return { header: parseJsonBytes(body.subarray(0, n), 'inference header'), binary: body.subarray(n) };
}

/**
 * Splits a binary WebSocket frame: 4-byte little-endian JSON header length, the JSON header, then
 * the tensor bytes. A frame that cannot be split is a framing violation (PARM_ERR_SERVER_PROTOCOL,
 * the server closes the connection); a header that is not JSON is an ordinary 400-class error.
 */
export function splitBinaryFrame(frame: Uint8Array): { headerBytes: Uint8Array; binary: Uint8Array } {
  if (frame.length < 4) {
    throw new ParmError('PARM_ERR_SERVER_PROTOCOL', `binary frame of ${frame.length} bytes has no 4-byte header length`);
  }
  const n = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24);
  const len = n >>> 0;
  if (len > frame.length - 4) {
    throw new ParmError('PARM_ERR_SERVER_PROTOCOL', `header length ${len} exceeds the frame (${frame.length - 4} bytes after the prefix)`);
  }
  return { headerBytes: frame.subarray(4, 4 + len), binary: frame.subarray(4 + len) };
}

/** Builds a binary frame: 4-byte LE header length, header JSON, then the given chunks. */
export function buildBinaryFrame(header: string, chunks: readonly Uint8Array[]): Uint8Array {
  const headerBytes = Buffer.from(header, 'utf8');
  let total = 4 + headerBytes.length;
  for (const c of chunks) total += c.length;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32LE(headerBytes.length, 0);
  headerBytes.copy(out, 4);
  let off = 4 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Reads an optional request id: a string or a finite number (null counts as absent). */
export function readId(header: unknown): RequestId | undefined {
  if (!isObject(header) || !('id' in header) || header.id === undefined || header.id === null) return undefined;
  const id = header.id;
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  throw bad(`'id' must be a string or a finite number, got ${JSON.stringify(id)}`);
}

/** Like readId but never throws: the best id to echo in an error answer (null when unusable). */
export function echoableId(header: unknown): RequestId | null {
  try {
    return readId(header) ?? null;
  } catch {
    return null;
  }
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function parseShape(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0) throw bad(`${where}.shape must be a non-empty array of integers`);
  return v.map((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw bad(`${where}.shape[${i}] must be a non-negative integer, got ${JSON.stringify(d)}`);
    }
    return d;
  });
}

function checkShape(shape: readonly number[], expected: readonly number[], name: string, limits: ProtocolLimits): void {
  const want = `[${expected.join(', ')}]`;
  if (shape.length !== expected.length) {
    throw bad(`input '${name}' has shape [${shape.join(', ')}]; the model expects ${want} (-1 = any batch size)`);
  }
  for (let i = 0; i < shape.length; i++) {
    const e = expected[i]!;
    if (e === -1 ? shape[i]! < 1 : shape[i] !== e) {
      throw bad(`input '${name}' has shape [${shape.join(', ')}]; the model expects ${want} (-1 = any batch size >= 1)`);
    }
  }
  if (shape[0]! > limits.maxBatch) {
    throw new ParmError('PARM_ERR_SERVER_TOO_LARGE', `input '${name}' has batch size ${shape[0]}, above the limit of ${limits.maxBatch}`);
  }
}

/** Copies JSON `data` (flat, or nested exactly as the shape) into a Float32Array. */
function jsonTensor(data: unknown, shape: readonly number[], name: string): Float32Array {
  const count = product(shape);
  if (!Array.isArray(data)) throw bad(`input '${name}': data must be an array of numbers`);
  const out = new Float32Array(count);
  if (data.length > 0 && Array.isArray(data[0])) {
    let k = 0;
    const walk = (v: unknown, depth: number, path: string): void => {
      if (depth === shape.length) {
        if (typeof v !== 'number') throw bad(`input '${name}': data${path} must be a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
        out[k++] = v;
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw bad(`input '${name}': nested data${path} must be an array of length ${shape[depth]} to match the shape`);
      }
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
    };
    walk(data, 0, '');
    return out;
  }
  if (data.length !== count) {
    throw bad(`input '${name}': data has ${data.length} elements; shape [${shape.join(', ')}] needs ${count}`);
  }
  for (let i = 0; i < count; i++) {
    const v = data[i];
    if (typeof v !== 'number') throw bad(`input '${name}': data[${i}] must be a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
    out[i] = v;
  }
  return out;
}

function readParameters(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw bad(`${where}.parameters must be an object`);
  return v;
}

function readBool(params: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const v = params[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw bad(`${where}.parameters.${key} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function readDecode(params: Record<string, unknown>): { decode: DecodePolicy | undefined; timeoutMs: number | undefined } {
  const policy = params.parm_decode;
  const deadline = params.parm_deadline_ms;
  const timeout = params.parm_timeout_ms;
  if (policy !== undefined && policy !== 'first' && policy !== 'deadline') {
    throw bad(`parameters.parm_decode must be "first" or "deadline", got ${JSON.stringify(policy)}`);
  }
  if (deadline !== undefined && (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline < 0)) {
    throw bad(`parameters.parm_deadline_ms must be a number >= 0, got ${JSON.stringify(deadline)}`);
  }
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)) {
    throw bad(`parameters.parm_timeout_ms must be a number > 0, got ${JSON.stringify(timeout)}`);
  }
  let decode: DecodePolicy | undefined;
  if (policy === 'first') {
    if (deadline !== undefined) throw bad('parameters.parm_deadline_ms needs parm_decode "deadline" (or no parm_decode)');
    decode = { kind: 'first' };
  } else if (policy === 'deadline' || deadline !== undefined) {
    if (deadline === undefined) throw bad('parameters.parm_decode "deadline" needs parm_deadline_ms');
    decode = { kind: 'deadline', waitMs: deadline as number };
  }
  return { decode, timeoutMs: timeout as number | undefined };
}

/**
 * Validates an inference request header against the model and extracts the tensor.
 * `binary` holds the bytes after the JSON header (empty when none). `framing` decides the default
 * output encoding: JSON requests get JSON outputs unless they ask for binary; binary WebSocket
 * frames get binary outputs unless an output asks for `binary_data: false`.
 * `allowBinaryOutputs` is false for WebSocket text frames, which cannot carry tensor bytes.
 */
export function parseInferRequest(
  header: unknown,
  binary: Uint8Array,
  info: ModelInfo,
  opts: { framing: Framing; allowBinaryOutputs: boolean; limits?: ProtocolLimits },
): ParsedInferRequest {
  const limits = opts.limits ?? DEFAULT_PROTOCOL_LIMITS;
  if (!isObject(header)) throw bad('the inference request must be a JSON object');
  const id = readId(header);
  const params = readParameters(header.parameters, 'request');
  const { decode, timeoutMs } = readDecode(params);
  const binaryOutputDefault = readBool(params, 'binary_data_output', 'request') ?? opts.framing === 'binary';

  const inputs = header.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw bad(`'inputs' must be a non-empty array`);
  const modelInputs = info.inputs;
  if (inputs.length !== modelInputs.length) {
    throw bad(`request has ${inputs.length} inputs; model '${info.name}' takes ${modelInputs.length} (${modelInputs.map((i) => `'${i.name}'`).join(', ')})`);
  }
  const spec = modelInputs[0]!;
  const inp = inputs[0];
  if (!isObject(inp)) throw bad('inputs[0] must be an object');
  if (inp.name !== spec.name) {
    throw bad(`unknown input ${JSON.stringify(inp.name)}; model '${info.name}' expects '${spec.name}'`);
  }
  if (inp.datatype !== spec.datatype) {
    throw bad(`input '${spec.name}' has datatype ${JSON.stringify(inp.datatype)}; the model expects ${spec.datatype}`);
  }
  const shape = parseShape(inp.shape, `input '${spec.name}'`);
  checkShape(shape, spec.shape, spec.name, limits);
  const count = product(shape);
  const inParams = readParameters(inp.parameters, `input '${spec.name}'`);
  const binSize = inParams.binary_data_size;

  let data: Float32Array;
  if (binSize !== undefined) {
    if (typeof binSize !== 'number' || !Number.isInteger(binSize) || binSize < 0) {
      throw bad(`input '${spec.name}': binary_data_size must be a non-negative integer, got ${JSON.stringify(binSize)}`);
    }
    if (inp.data !== undefined) throw bad(`input '${spec.name}' has both binary_data_size and data`);
    if (binSize !== count * 4) {
      throw bad(`input '${spec.name}': binary_data_size ${binSize} does not match shape [${shape.join(', ')}] of FP32 (${count * 4} bytes)`);
    }
    if (binary.length !== binSize) {
      throw bad(`input '${spec.name}': binary_data_size ${binSize} but ${binary.length} bytes of tensor data follow the header`);
    }
    // Copy into a fresh, 4-byte-aligned buffer: the transport's bytes do not outlive this call.
    data = new Float32Array(count);
    new Uint8Array(data.buffer).set(binary);
  } else {
    if (binary.length !== 0) throw bad(`${binary.length} bytes of binary data follow the header but no input has binary_data_size`);
    if (inp.data === undefined) throw bad(`input '${spec.name}' has neither data nor parameters.binary_data_size`);
    data = jsonTensor(inp.data, shape, spec.name);
  }

  const outputs: RequestedOutput[] = [];
  if (header.outputs === undefined || header.outputs === null) {
    for (const o of info.outputs) outputs.push({ name: o.name, binary: binaryOutputDefault });
  } else {
    if (!Array.isArray(header.outputs)) throw bad(`'outputs' must be an array`);
    for (const [i, o] of header.outputs.entries()) {
      if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${i}] must be an object with a string name`);
      if (!info.outputs.some((m) => m.name === o.name)) {
        throw bad(`unknown output ${JSON.stringify(o.name)}; model '${info.name}' has ${info.outputs.map((m) => `'${m.name}'`).join(', ')}`);
      }
      const p = readParameters(o.parameters, `outputs[${i}]`);
      outputs.push({ name: o.name, binary: readBool(p, 'binary_data', `outputs[${i}]`) ?? binaryOutputDefault });
    }
  }
  if (!opts.allowBinaryOutputs && outputs.some((o) => o.binary)) {
    throw bad('binary outputs need a binary frame: send the request as a binary frame, or drop binary_data / binary_data_output');
  }
  return { id, data, shape, outputs, decode, timeoutMs };
}

/** Output shape for the response: the engine may report one query's shape ([10]) or the batch's. */
export function responseShape(result: InferResult, requestShape: readonly number[], info: ModelInfo): number[] {
  const rank = info.outputs[0]?.shape.length ?? result.shape.length + 1;
  if (result.shape.length === rank) return result.shape.slice();
  return [requestShape[0]!, ...result.shape];
}

export interface EncodedResponse {
  /** The JSON header (the whole body when `chunks` is empty). */
  header: string;
  /** Tensor bytes that follow the header, in output order (binary extension). */
  chunks: Uint8Array[];
}

/**
 * Encodes an inference response. The reconstructed flag is `parm_reconstructed` in the response
 * `parameters` and in each output's `parameters`; `parm_instance` and `parm_latency_ms` ride along
 * in the response `parameters`.
 */
export function encodeInferResponse(req: ParsedInferRequest, result: InferResult, info: ModelInfo): EncodedResponse {
  const shape = responseShape(result, req.shape, info);
  const chunks: Uint8Array[] = [];
  const outputs = req.outputs.map((o) => {
    const spec = info.outputs.find((m) => m.name === o.name)!;
    if (o.binary) {
      const bytes = new Uint8Array(result.output.buffer, result.output.byteOffset, result.output.byteLength);
      chunks.push(bytes);
      return {
        name: o.name,
        datatype: spec.datatype,
        shape,
        parameters: { binary_data_size: bytes.length, parm_reconstructed: result.reconstructed },
      };
    }
    return {
      name: o.name,
      datatype: spec.datatype,
      shape,
      parameters: { parm_reconstructed: result.reconstructed },
      data: Array.from(result.output),
    };
  });
  const body: Record<string, unknown> = { model_name: info.name, model_version: info.version };
  if (req.id !== undefined) body.id = req.id;
  body.parameters = {
    parm_reconstructed: result.reconstructed,
    parm_instance: result.instance,
    parm_latency_ms: Math.round(result.latencyMs * 1000) / 1000,
  };
  body.outputs = outputs;
  return { header: JSON.stringify(body), chunks };
}

/** OIP error body; the stream adds the request id (null when it could not be read). */
export function errorBody(message: string, id?: RequestId | null): string {
  return id === undefined ? JSON.stringify({ error: message }) : JSON.stringify({ id, error: message });
}

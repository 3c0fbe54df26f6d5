// Reading an OIP inference request the way the server accepts it: the request object and its id
// (read once, here), then the one input tensor checked against the model (JSON data or binary
// extension bytes), the requested outputs and parm's parameters. Pure functions, no I/O, shared by
// the HTTP and WebSocket fronts; every failure is a ParmError. docs/protocol.md is the contract.
import { ParmError } from '../errors.js';
import { decodePolicyFromParameters } from '../engine/decode-policy.js';
import type { DecodePolicy, ModelInfo } from '../engine/types.js';
import { sharedFloats } from '../engine/shared-floats.js';
import { MAX_TIMER_MS } from '../engine/validate.js';
import type { Framing, RequestId } from '../wire/index.js';

/** Limits the validator enforces; every field has a default in DEFAULT_PROTOCOL_LIMITS. */
export interface ProtocolLimits {
  /** Largest leading (batch) dimension accepted in one request. */
  maxBatch: number;
}

export const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = { maxBatch: 1024 };

/** A request that is a JSON object, with its id read and checked. */
export interface RequestHeader {
  /** The id as given (string or finite number); undefined when absent or null. */
  id: RequestId | undefined;
  fields: Record<string, unknown>;
}

export interface RequestedOutput {
  name: string;
  /** Send this output as binary data (binary extension) rather than JSON `data`. */
  binary: boolean;
}

export interface ParsedInferRequest {
  id: RequestId | undefined;
  /** The one input tensor, copied into its own aligned buffer (safe after the transport frees its bytes); handed to the engine to keep. */
  data: Float32Array;
  /** Full shape as sent, leading dimension = batch size. */
  shape: number[];
  outputs: RequestedOutput[];
  decode: DecodePolicy | undefined;
  timeoutMs: number | undefined;
}

function bad(message: string): ParmError {
  return new ParmError('PARM_ERR_SERVER_BAD_REQUEST', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks that a request is a JSON object and reads its optional id: a string or a finite number (null = absent). */
export function readRequestHeader(header: unknown): RequestHeader {
  if (!isObject(header)) throw bad('the inference request must be a JSON object');
  const id = header.id;
  if (id === undefined || id === null) return { id: undefined, fields: header };
  if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) return { id, fields: header };
  throw bad(`'id' must be a string or a finite number, got ${JSON.stringify(id)}`);
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
  const want = () => `[${expected.join(', ')}]`;
  if (shape.length !== expected.length) {
    throw bad(`input '${name}' has shape [${shape.join(', ')}]; the model expects ${want()} (-1 = any batch size)`);
  }
  for (let i = 0; i < shape.length; i++) {
    const e = expected[i]!;
    if (e === -1 ? shape[i]! < 1 : shape[i] !== e) {
      throw bad(`input '${name}' has shape [${shape.join(', ')}]; the model expects ${want()} (-1 = any batch size >= 1)`);
    }
  }
  if (shape[0]! > limits.maxBatch) {
    throw new ParmError('PARM_ERR_SERVER_TOO_LARGE', `input '${name}' has batch size ${shape[0]}, above the limit of ${limits.maxBatch}`);
  }
}

function numberAt(v: unknown, name: string, path: string): number {
  if (typeof v !== 'number') throw bad(`input '${name}': data${path} must be a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
  return v;
}

/**
 * Copies JSON `data` (flat, or nested exactly as the shape) into a Float32Array. Lengths are
 * checked before anything is allocated, so a shape the data does not back allocates nothing.
 */
function jsonTensor(data: unknown, shape: readonly number[], name: string): Float32Array {
  const count = product(shape);
  if (!Array.isArray(data)) throw bad(`input '${name}': data must be an array of numbers`);
  if (data.length > 0 && Array.isArray(data[0])) {
    const values: number[] = [];
    const walk = (v: unknown, depth: number, path: string): void => {
      if (depth === shape.length) {
        values.push(numberAt(v, name, path));
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw bad(`input '${name}': nested data${path} must be an array of length ${shape[depth]} to match the shape`);
      }
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${path}[${i}]`);
    };
    walk(data, 0, '');
    const out = sharedFloats(values.length);
    out.set(values);
    return out;
  }
  if (data.length !== count) {
    throw bad(`input '${name}': data has ${data.length} elements; shape [${shape.join(', ')}] needs ${count}`);
  }
  const out = sharedFloats(count);
  for (let i = 0; i < count; i++) out[i] = numberAt(data[i], name, `[${i}]`);
  return out;
}

/**
 * Copies binary extension bytes into a fresh, 4-byte-aligned tensor: the transport's bytes do not
 * outlive the call. Fresh tensors are the engine's from here on (sharedFloats: large ones on shared
 * memory, which instance threads read without a copy).
 */
function binaryTensor(binSize: unknown, hasData: boolean, tensors: Uint8Array, shape: readonly number[], name: string): Float32Array {
  const count = product(shape);
  if (typeof binSize !== 'number' || !Number.isInteger(binSize) || binSize < 0) {
    throw bad(`input '${name}': binary_data_size must be a non-negative integer, got ${JSON.stringify(binSize)}`);
  }
  if (hasData) throw bad(`input '${name}' has both binary_data_size and data`);
  if (binSize !== count * 4) {
    throw bad(`input '${name}': binary_data_size ${binSize} does not match shape [${shape.join(', ')}] of FP32 (${count * 4} bytes)`);
  }
  if (tensors.length !== binSize) {
    throw bad(`input '${name}': binary_data_size ${binSize} but ${tensors.length} bytes of tensor data follow the header`);
  }
  const data = sharedFloats(count);
  new Uint8Array(data.buffer).set(tensors);
  return data;
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

function timeoutFromParameters(params: Record<string, unknown>): number | undefined {
  const timeout = params.parm_timeout_ms;
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_TIMER_MS)) {
    throw bad(`parameters.parm_timeout_ms must be a number in (0, ${MAX_TIMER_MS}], got ${JSON.stringify(timeout)}`);
  }
  return timeout as number | undefined;
}

function requestedOutputs(v: unknown, info: ModelInfo, binaryDefault: boolean): RequestedOutput[] {
  if (v === undefined || v === null) return info.outputs.map((o) => ({ name: o.name, binary: binaryDefault }));
  if (!Array.isArray(v)) throw bad(`'outputs' must be an array`);
  return v.map((o, i) => {
    if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${i}] must be an object with a string name`);
    if (!info.outputs.some((m) => m.name === o.name)) {
      throw bad(`unknown output ${JSON.stringify(o.name)}; model '${info.name}' has ${info.outputs.map((m) => `'${m.name}'`).join(', ')}`);
    }
    const p = readParameters(o.parameters, `outputs[${i}]`);
    return { name: o.name, binary: readBool(p, 'binary_data', `outputs[${i}]`) ?? binaryDefault };
  });
}

/**
 * Validates an inference request against the model and extracts the tensor.
 * `tensors` holds the bytes after the JSON header (empty when none). `framing` decides the default
 * output encoding: JSON requests get JSON outputs unless they ask for binary; binary WebSocket
 * frames get binary outputs unless an output asks for `binary_data: false`.
 * `allowBinaryOutputs` is false for WebSocket text frames, which cannot carry tensor bytes.
 */
export function parseInferRequest(
  request: RequestHeader,
  tensors: Uint8Array,
  info: ModelInfo,
  opts: { framing: Framing; allowBinaryOutputs: boolean; limits?: ProtocolLimits },
): ParsedInferRequest {
  const limits = opts.limits ?? DEFAULT_PROTOCOL_LIMITS;
  const header = request.fields;
  const params = readParameters(header.parameters, 'request');
  const decode = decodePolicyFromParameters(params);
  const timeoutMs = timeoutFromParameters(params);
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
  const binSize = readParameters(inp.parameters, `input '${spec.name}'`).binary_data_size;

  let data: Float32Array;
  if (binSize !== undefined) {
    data = binaryTensor(binSize, inp.data !== undefined, tensors, shape, spec.name);
  } else {
    if (tensors.length !== 0) throw bad(`${tensors.length} bytes of binary data follow the header but no input has binary_data_size`);
    if (inp.data === undefined) throw bad(`input '${spec.name}' has neither data nor parameters.binary_data_size`);
    data = jsonTensor(inp.data, shape, spec.name);
  }

  const outputs = requestedOutputs(header.outputs, info, binaryOutputDefault);
  if (!opts.allowBinaryOutputs && outputs.some((o) => o.binary)) {
    throw bad('binary outputs need a binary frame: send the request as a binary frame, or drop binary_data / binary_data_output');
  }
  return { id: request.id, data, shape, outputs, decode, timeoutMs };
}

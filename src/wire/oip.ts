// Open Inference Protocol v2 messages as they travel (docs/protocol.md is the contract): the JSON
// shapes of requests, answers and error answers with parm's parameters, and the few helpers both
// ends need to build an FP32 input and read an output tensor back. Types and pure functions only.

/** The id a client gave: OIP says string; the stream also accepts a finite number (echoed as given). */
export type RequestId = string | number;

/** How a message travels: a JSON text frame (or plain JSON HTTP body), or a binary frame with tensor bytes. */
export type Framing = 'json' | 'binary';

/** Request-level `parameters` parm reads; OIP lets extensions add keys, the rest are ignored. */
export interface InferRequestParameters {
  /** `first`: the first of original or reconstruction; `deadline`: wait parm_deadline_ms for the original. */
  parm_decode?: 'first' | 'deadline';
  parm_deadline_ms?: number;
  /** Server-side deadline for the answer (504 beyond). */
  parm_timeout_ms?: number;
  /** Binary extension: every output as binary unless the output says otherwise. */
  binary_data_output?: boolean;
  [key: string]: unknown;
}

export interface InferInputTensor {
  name: string;
  shape: number[];
  datatype: string;
  /** `binary_data_size`: the tensor's bytes follow the header (binary extension) instead of `data`. */
  parameters?: { binary_data_size?: number; [key: string]: unknown };
  /** Row-major values, flat or nested as `shape`. */
  data?: unknown;
}

export interface InferRequestedOutput {
  name: string;
  parameters?: { binary_data?: boolean; [key: string]: unknown };
}

export interface InferRequest {
  id?: RequestId;
  parameters?: InferRequestParameters;
  inputs: InferInputTensor[];
  outputs?: InferRequestedOutput[];
}

/** Response-level `parameters` of a parm answer. */
export interface InferResponseParameters {
  parm_reconstructed: boolean;
  /** The instance that produced the original, or the parity instance(s) of a reconstruction. */
  parm_instance: string;
  /** Engine time from acceptance to answer, ms. */
  parm_latency_ms: number;
  [key: string]: unknown;
}

export interface InferOutputTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: { binary_data_size?: number; parm_reconstructed?: boolean; [key: string]: unknown };
  data?: unknown;
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: RequestId;
  parameters?: InferResponseParameters;
  outputs: InferOutputTensor[];
}

/** An error answer: OIP's `{"error"}`; the stream adds the id (null when it could not be read). */
export interface ErrorResponse {
  id?: RequestId | null;
  error: string;
}

/** The bytes of a float32 tensor as they go on the wire (little-endian hosts only: a view, no copy). */
export function fp32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** An FP32 input: announced by `binary_data_size` (its bytes follow the header) or inline as JSON `data`. */
export function fp32Input(name: string, shape: readonly number[], data: Float32Array, binary: boolean): InferInputTensor {
  const input: InferInputTensor = { name, shape: [...shape], datatype: 'FP32' };
  if (binary) input.parameters = { binary_data_size: data.byteLength };
  else input.data = Array.from(data);
  return input;
}

/** The serialized error answer: `{"error"}`, with `id` first when one is given (null included). */
export function errorResponse(message: string, id?: RequestId | null): string {
  const body: ErrorResponse = id === undefined ? { error: message } : { id, error: message };
  return JSON.stringify(body);
}

/** Whether an answer says it is a reconstruction (response parameters, or the output's own). */
export function isReconstructed(res: Partial<InferResponse>, output?: InferOutputTensor): boolean {
  return res.parameters?.parm_reconstructed === true || output?.parameters?.parm_reconstructed === true;
}

function flatten(v: unknown, into: number[], name: string): void {
  if (Array.isArray(v)) for (const x of v) flatten(x, into, name);
  else if (typeof v === 'number') into.push(v);
  else throw new TypeError(`output '${name}': data holds ${JSON.stringify(v)?.slice(0, 40)}, expected numbers`);
}

/**
 * Reads one output of an answer as float32: the output called `name` (else the first). Binary
 * outputs lie after the header in output order, so its bytes start after those of the binary
 * outputs before it; they are copied into a fresh, aligned array. Undefined when there is no
 * output; a size that does not fit the bytes is a RangeError naming the numbers.
 */
export function readOutputTensor(res: Partial<InferResponse>, tensors: Uint8Array, name?: string): { output: InferOutputTensor; data: Float32Array } | undefined {
  const outputs = Array.isArray(res.outputs) ? res.outputs : [];
  const output = (name === undefined ? undefined : outputs.find((o) => o?.name === name)) ?? outputs[0];
  if (!output) return undefined;
  const size = output.parameters?.binary_data_size;
  if (size === undefined) {
    const values: number[] = [];
    flatten(output.data ?? [], values, output.name);
    return { output, data: Float32Array.from(values) };
  }
  if (!Number.isInteger(size) || size < 0 || size % 4 !== 0) {
    throw new RangeError(`output '${output.name}': binary_data_size must be a multiple of 4 bytes (FP32), got ${JSON.stringify(size)}`);
  }
  let offset = 0;
  for (const o of outputs) {
    if (o === output) break;
    const s = o?.parameters?.binary_data_size;
    if (typeof s === 'number') offset += s;
  }
  if (offset + size > tensors.length) {
    throw new RangeError(`output '${output.name}': binary_data_size ${size} at byte ${offset}, but ${tensors.length} tensor bytes follow the header`);
  }
  const data = new Float32Array(size / 4);
  new Uint8Array(data.buffer).set(tensors.subarray(offset, offset + size));
  return { output, data };
}

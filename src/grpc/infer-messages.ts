// ModelInferRequest and ModelInferResponse as the server's one request reader and the engine see
// them: a gRPC request becomes the OIP request object (parameters as plain values, raw contents
// announced as binary data) that parseInferRequest checks exactly as over HTTP, and an engine
// answer becomes a ModelInferResponse with parm's parameters. Pure functions, no I/O.
import { ParmError } from '../errors.js';
import type { InferResult, ModelInfo } from '../engine/types.js';
import type { ParsedInferRequest, RequestHeader } from '../server/infer-request.js';
import { responseShape } from '../server/infer-response.js';
import { fp32Bytes } from '../wire/index.js';
import type { ModelInferRequest, ModelInferResponse, ParameterMap } from './service.js';

function bad(message: string): ParmError {
  return new ParmError('PARM_ERR_SERVER_BAD_REQUEST', message);
}

/**
 * An InferParameter map as plain values, the form the OIP JSON parameters have: booleans,
 * strings, and numbers (int64 / uint64 from their decimal strings, double as is). A parameter
 * with no value set is left out (proto3: unset).
 */
export function plainParameters(map: ParameterMap | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, p] of Object.entries(map ?? {})) {
    switch (p.parameter_choice) {
      case 'bool_param':
        out[key] = p.bool_param;
        break;
      case 'string_param':
        out[key] = p.string_param;
        break;
      case 'double_param':
        out[key] = p.double_param;
        break;
      case 'int64_param':
      case 'uint64_param':
        out[key] = Number(p[p.parameter_choice]);
        break;
      default:
        break;
    }
  }
  return out;
}

/** The request as parseInferRequest reads it, the bytes after its "header", and whether tensors came raw. */
export interface OipRequest {
  request: RequestHeader;
  tensors: Uint8Array;
  raw: boolean;
}

function countOf(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return undefined;
    n *= d;
  }
  return n;
}

/**
 * Maps a ModelInferRequest onto the OIP request: raw_input_contents[i] becomes input i's binary
 * data (its size checked here, in gRPC's terms), typed `contents.fp32_contents` its JSON `data`.
 * Everything else (names, datatype, shape, counts, parameters) is left to parseInferRequest, so
 * that gRPC gets the same checks and messages as HTTP.
 */
export function toOipRequest(msg: ModelInferRequest): OipRequest {
  const raw = msg.raw_input_contents ?? [];
  const isRaw = raw.length > 0;
  if (isRaw && raw.length !== msg.inputs.length) {
    throw bad(`raw_input_contents has ${raw.length} entries; the request has ${msg.inputs.length} inputs (one entry per input, in order)`);
  }
  const inputs = msg.inputs.map((inp, i) => {
    const shape = inp.shape.map(Number);
    const parameters = plainParameters(inp.parameters);
    const base = { name: inp.name, datatype: inp.datatype, shape, parameters };
    if (!isRaw) return { ...base, data: inp.contents?.fp32_contents ?? [] };
    if ((inp.contents?.fp32_contents?.length ?? 0) > 0) {
      throw bad(`input '${inp.name}' has both contents and raw_input_contents; send one of them`);
    }
    const bytes = raw[i]!.length;
    const count = countOf(shape);
    if (inp.datatype === 'FP32' && count !== undefined && bytes !== count * 4) {
      throw bad(`raw_input_contents[${i}] has ${bytes} bytes; input '${inp.name}' of shape [${shape.join(', ')}] FP32 needs ${count * 4}`);
    }
    return { ...base, parameters: { ...parameters, binary_data_size: bytes } };
  });
  const fields: Record<string, unknown> = { parameters: plainParameters(msg.parameters), inputs };
  if (msg.outputs.length > 0) fields.outputs = msg.outputs.map((o) => ({ name: o.name, parameters: plainParameters(o.parameters) }));
  const tensors = !isRaw ? new Uint8Array(0) : raw.length === 1 ? raw[0]! : Buffer.concat(raw);
  return { request: { id: msg.id === '' ? undefined : msg.id, fields }, tensors, raw: isRaw };
}

/**
 * The answer as a ModelInferResponse: outputs in raw_output_contents when any requested output is
 * binary (a raw request's default), else typed in contents.fp32_contents; `parm_reconstructed` in
 * the response and output parameters, `parm_instance` and `parm_latency_ms` in the response's.
 */
export function toModelInferResponse(req: ParsedInferRequest, result: InferResult, info: ModelInfo): ModelInferResponse {
  const shape = responseShape(result, req.shape, info);
  // The protocol puts all outputs raw or none: raw as soon as one asks for it.
  const raw = req.outputs.some((o) => o.binary);
  const reconstructed = { bool_param: result.reconstructed };
  const view = fp32Bytes(result.output);
  // A view on the engine's answer (no copy): it is ours from here on.
  const bytes = raw ? Buffer.from(view.buffer, view.byteOffset, view.byteLength) : undefined;
  return {
    model_name: info.name,
    model_version: info.version,
    id: req.id === undefined ? '' : String(req.id),
    parameters: {
      parm_reconstructed: reconstructed,
      parm_instance: { string_param: result.instance },
      parm_latency_ms: { double_param: Math.round(result.latencyMs * 1000) / 1000 },
    },
    outputs: req.outputs.map((o) => {
      const spec = info.outputs.find((m) => m.name === o.name)!;
      const out: ModelInferResponse['outputs'][number] = { name: o.name, datatype: spec.datatype, shape, parameters: { parm_reconstructed: reconstructed } };
      if (!raw) out.contents = { fp32_contents: Array.from(result.output) };
      return out;
    }),
    raw_output_contents: bytes ? req.outputs.map(() => bytes) : [],
  };
}

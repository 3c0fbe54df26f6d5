// Encoding an engine's answer as an OIP inference response: the JSON header with parm's
// parameters (the reconstructed flag, the instance, the latency) and, for outputs asked as binary,
// the tensor bytes that follow it. Pure functions; the fronts put the result in a frame or a body.
import type { InferResult, ModelInfo } from '../engine/types.js';
import { fp32Bytes, type InferOutputTensor, type InferResponse } from '../wire/index.js';
import type { ParsedInferRequest } from './infer-request.js';

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
  const outputs = req.outputs.map((o): InferOutputTensor => {
    const spec = info.outputs.find((m) => m.name === o.name)!;
    if (o.binary) {
      const bytes = fp32Bytes(result.output);
      chunks.push(bytes);
      return { name: o.name, datatype: spec.datatype, shape, parameters: { binary_data_size: bytes.length, parm_reconstructed: result.reconstructed } };
    }
    return { name: o.name, datatype: spec.datatype, shape, parameters: { parm_reconstructed: result.reconstructed }, data: Array.from(result.output) };
  });
  // Key order is what clients see: model, version, id, parameters, outputs (assigned in that order).
  const body = { model_name: info.name, model_version: info.version } as InferResponse;
  if (req.id !== undefined) body.id = req.id;
  body.parameters = {
    parm_reconstructed: result.reconstructed,
    parm_instance: result.instance,
    parm_latency_ms: Math.round(result.latencyMs * 1000) / 1000,
  };
  body.outputs = outputs;
  return { header: JSON.stringify(body), chunks };
}

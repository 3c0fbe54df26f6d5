// Encoding an engine's answer as an OIP inference response: the JSON header with parm's
// parameters (the reconstructed flag, the instance, the latency) and, for outputs asked as binary,
// the tensor bytes that follow it. Pure functions; the fronts put the result in a frame or a body.
import type { InferResult, ModelInfo } from '../engine/types.js';
import { fp32Bytes } from '../wire/index.js';
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

/** A deployment's constant part of every response header: `{"model_name":…,"model_version":…`, and each output's datatype. */
interface HeaderParts {
  head: string;
  datatypes: Map<string, string>;
}

const headerParts = new WeakMap<ModelInfo, HeaderParts>();

function partsOf(info: ModelInfo): HeaderParts {
  let p = headerParts.get(info);
  if (!p) {
    p = {
      head: `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}`,
      datatypes: new Map(info.outputs.map((o) => [o.name, JSON.stringify(o.datatype)])),
    };
    headerParts.set(info, p);
  }
  return p;
}

/**
 * Encodes an inference response. The reconstructed flag is `parm_reconstructed` in the response
 * `parameters` and in each output's `parameters`; `parm_instance` and `parm_latency_ms` ride along
 * in the response `parameters`. The header is the JSON of an InferResponse with its keys in the
 * order model_name, model_version, id, parameters, outputs, written out directly (it is on every
 * answer's path); the tests hold it to JSON.stringify of that object.
 */
export function encodeInferResponse(req: ParsedInferRequest, result: InferResult, info: ModelInfo): EncodedResponse {
  const { head, datatypes } = partsOf(info);
  const shape = `[${responseShape(result, req.shape, info).join(',')}]`;
  const rec = result.reconstructed ? 'true' : 'false';
  const chunks: Uint8Array[] = [];
  let outputs = '';
  for (const o of req.outputs) {
    const start = `${outputs === '' ? '' : ','}{"name":${JSON.stringify(o.name)},"datatype":${datatypes.get(o.name)!},"shape":${shape},"parameters":{`;
    if (o.binary) {
      const bytes = fp32Bytes(result.output);
      chunks.push(bytes);
      outputs += `${start}"binary_data_size":${bytes.length},"parm_reconstructed":${rec}}}`;
    } else {
      outputs += `${start}"parm_reconstructed":${rec}},"data":${JSON.stringify(Array.from(result.output))}}`;
    }
  }
  const id = req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : '';
  const latency = JSON.stringify(Math.round(result.latencyMs * 1000) / 1000);
  const header = `${head}${id},"parameters":{"parm_reconstructed":${rec},"parm_instance":${JSON.stringify(result.instance)},"parm_latency_ms":${latency}},"outputs":[${outputs}]}`;
  return { header, chunks };
}

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

/**
 * Where a binary answer's header ends: `},"outputs":[…]}` for one set of binary outputs, output
 * shape and reconstructed flag, kept while answers repeat it (nearly all answers of a deployment
 * do), with what it was made from.
 */
interface OutputsTail {
  text: string;
  names: string[];
  shape: number[];
  bytes: number;
}

/** Distinct instances whose parameters prefix is kept per deployment; past it the cache starts over. */
const MAX_INSTANCES_KEPT = 1024;

/**
 * A deployment's constant parts of every response header, and the parts its answers repeat: the
 * header is written from a handful of strings instead of a dozen per answer (each piece of a
 * string built by `+` is an object of its own until the string is flattened).
 */
interface HeaderParts {
  /** `{"model_name":…,"model_version":…` */
  head: string;
  datatypes: Map<string, string>;
  /** `,"parameters":{"parm_reconstructed":R,"parm_instance":I,"parm_latency_ms":` by instance, [original, reconstructed]. */
  params: Map<string, [string, string]>;
  /** The last binary outputs tail, [original, reconstructed]. */
  tails: [OutputsTail | null, OutputsTail | null];
}

const headerParts = new WeakMap<ModelInfo, HeaderParts>();

function partsOf(info: ModelInfo): HeaderParts {
  let p = headerParts.get(info);
  if (!p) {
    p = {
      head: `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}`,
      datatypes: new Map(info.outputs.map((o) => [o.name, JSON.stringify(o.datatype)])),
      params: new Map(),
      tails: [null, null],
    };
    headerParts.set(info, p);
  }
  return p;
}

function paramsPrefix(p: HeaderParts, instance: string, reconstructed: boolean): string {
  let both = p.params.get(instance);
  if (!both) {
    if (p.params.size >= MAX_INSTANCES_KEPT) p.params.clear();
    const at = (rec: boolean) => `,"parameters":{"parm_reconstructed":${rec},"parm_instance":${JSON.stringify(instance)},"parm_latency_ms":`;
    p.params.set(instance, (both = [at(false), at(true)]));
  }
  return both[reconstructed ? 1 : 0];
}

/** Whether a cached tail was made for these outputs (all binary), this response shape and these output bytes. */
function tailFits(t: OutputsTail, req: ParsedInferRequest, shape: readonly number[], bytes: number): boolean {
  if (t.bytes !== bytes || t.names.length !== req.outputs.length || t.shape.length !== shape.length) return false;
  for (let i = 0; i < shape.length; i++) if (t.shape[i] !== shape[i]) return false;
  for (let i = 0; i < req.outputs.length; i++) {
    const o = req.outputs[i]!;
    if (!o.binary || o.name !== t.names[i]) return false;
  }
  return true;
}

/**
 * Encodes an inference response. The reconstructed flag is `parm_reconstructed` in the response
 * `parameters` and in each output's `parameters`; `parm_instance` and `parm_latency_ms` ride along
 * in the response `parameters`. The header is the JSON of an InferResponse with its keys in the
 * order model_name, model_version, id, parameters, outputs, written out directly (it is on every
 * answer's path); the tests hold it to JSON.stringify of that object.
 */
export function encodeInferResponse(req: ParsedInferRequest, result: InferResult, info: ModelInfo): EncodedResponse {
  const p = partsOf(info);
  const rec = result.reconstructed;
  const shape = responseShape(result, req.shape, info);
  const bytes = fp32Bytes(result.output);
  const cached = p.tails[rec ? 1 : 0];
  let tail: string;
  if (cached && tailFits(cached, req, shape, bytes.length)) {
    tail = cached.text;
  } else {
    tail = outputsTail(req, result, shape, bytes.length, p.datatypes);
    if (req.outputs.every((o) => o.binary)) p.tails[rec ? 1 : 0] = { text: tail, names: req.outputs.map((o) => o.name), shape, bytes: bytes.length };
  }
  const chunks: Uint8Array[] = [];
  for (const o of req.outputs) if (o.binary) chunks.push(bytes);
  const id = req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : '';
  const latency = JSON.stringify(Math.round(result.latencyMs * 1000) / 1000);
  return { header: p.head + id + paramsPrefix(p, result.instance, rec) + latency + tail, chunks };
}

/** `},"outputs":[…]}`: each requested output, binary (its size) or inline (its data). */
function outputsTail(req: ParsedInferRequest, result: InferResult, shape: readonly number[], bytes: number, datatypes: ReadonlyMap<string, string>): string {
  const rec = result.reconstructed ? 'true' : 'false';
  const shapeText = `[${shape.join(',')}]`;
  let outputs = '';
  for (const o of req.outputs) {
    const start = `${outputs === '' ? '' : ','}{"name":${JSON.stringify(o.name)},"datatype":${datatypes.get(o.name)!},"shape":${shapeText},"parameters":{`;
    if (o.binary) outputs += `${start}"binary_data_size":${bytes},"parm_reconstructed":${rec}}}`;
    else outputs += `${start}"parm_reconstructed":${rec}},"data":${JSON.stringify(Array.from(result.output))}}`;
  }
  return `},"outputs":[${outputs}]}`;
}

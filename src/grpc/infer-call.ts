// One gRPC inference, unary or on a stream: lookup, admission and parsing (the server's one gate
// and request reader), the engine run with the client's deadline and cancellation, the answer as a
// ModelInferResponse, and the request metrics (transport "grpc") and in-flight accounting.
import { ParmError, grpcStatusOf, httpStatusOf } from '../errors.js';
import type { Engine } from '../engine/types.js';
import type { ServerContext } from '../server/context.js';
import { parseInferRequest, type ParsedInferRequest } from '../server/infer-request.js';
import { toModelInferResponse, toOipRequest } from './infer-messages.js';
import type { ModelInferRequest, ModelInferResponse } from './service.js';

/** An error as a gRPC client gets it: the status code and the message HTTP would send. */
export interface GrpcError {
  code: number;
  details: string;
}

/** Maps any error to its gRPC status and client-facing message (logged once when unexpected). */
export function grpcError(ctx: ServerContext, err: unknown, model: string, id?: string): GrpcError {
  const d = ctx.describe(err, model, id);
  return { code: grpcStatusOf(err), details: d.message };
}

/** Milliseconds left before a gRPC deadline (a Date or a number of ms since the epoch; Infinity: none). */
export function msLeft(deadline: Date | number): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at - Date.now();
}

/**
 * Runs one request. `signal` withdraws it from the engine (the client cancelled); the engine's
 * timeout is the least of parm_timeout_ms, requestTimeoutMs and the time left before `deadline`.
 * Rejects with the error to answer; every outcome is counted in the request metrics.
 */
export async function inferOnce(ctx: ServerContext, msg: ModelInferRequest, signal: AbortSignal, deadline: Date | number): Promise<ModelInferResponse> {
  const t0 = performance.now();
  // Unknown models and versions count under model="", as over HTTP.
  let label = '';
  let engine: Engine;
  let parsed: ParsedInferRequest;
  try {
    engine = ctx.lookup(msg.model_name, msg.model_version === '' ? undefined : msg.model_version);
    label = msg.model_name;
    const { request, tensors, raw } = toOipRequest(msg);
    const info = ctx.admit(engine);
    parsed = parseInferRequest(request, tensors, info, { framing: raw ? 'binary' : 'json', allowBinaryOutputs: true, limits: ctx.protocolLimits });
    const left = msLeft(deadline);
    if (left <= 0) throw new ParmError('PARM_ERR_ENGINE_TIMEOUT', 'the gRPC deadline passed before the request was run');
    parsed.timeoutMs = Math.min(parsed.timeoutMs ?? ctx.limits.requestTimeoutMs, Math.ceil(left));
  } catch (err) {
    ctx.metrics.failure(label, 'grpc', httpStatusOf(err));
    throw err;
  }
  ctx.begin('grpc');
  try {
    const result = await ctx.run(engine, parsed, signal);
    const response = toModelInferResponse(parsed, result, ctx.infoOf(engine));
    ctx.metrics.success(label, 'grpc', (performance.now() - t0) / 1000, result.reconstructed);
    return response;
  } catch (err) {
    ctx.metrics.failure(label, 'grpc', httpStatusOf(err));
    throw err;
  } finally {
    ctx.end('grpc');
  }
}

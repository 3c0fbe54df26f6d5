// One gRPC inference, unary or on a stream: lookup, admission and parsing (the server's one gate
// and request reader), the engine run with the client's deadline and cancellation, the answer as a
// ModelInferResponse, and the request metrics (transport "grpc") and in-flight accounting.
import { ParmError, grpcStatusOf, httpStatusOf } from '../errors.js';
import type { Engine, ModelInfo } from '../engine/types.js';
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

/** Receives the outcome of one request: the error to answer, or the response. */
export type Reply = (err: unknown, response?: ModelInferResponse) => void;

/**
 * Runs one request and hands its outcome to `reply`; the request counts as in flight until
 * `reply` has returned (so a shutdown drain waits for the answer to reach the transport).
 * `signal` withdraws it from the engine (the client cancelled); the engine's timeout is the least
 * of parm_timeout_ms, requestTimeoutMs and the time left before `deadline`. Every outcome is
 * counted in the request metrics.
 */
export function inferOnce(ctx: ServerContext, msg: ModelInferRequest, signal: AbortSignal, deadline: Date | number, reply: Reply): void {
  const t0 = performance.now();
  // Unknown models and versions count under model="", as over HTTP.
  let label = '';
  const fail = (err: unknown) => {
    // The client's deadline cancels the call: that is a timeout, not a cancellation.
    const e = err instanceof ParmError && err.code === 'PARM_ERR_ENGINE_CANCELLED' && msLeft(deadline) <= 0 ? new ParmError('PARM_ERR_ENGINE_TIMEOUT', 'the gRPC deadline passed') : err;
    ctx.metrics.failure(label, 'grpc', httpStatusOf(e));
    reply(e);
  };
  let engine: Engine;
  let parsed: ParsedInferRequest;
  // The model as admitted: the answer is built against it even if the model is unloaded meanwhile.
  let info: ModelInfo;
  try {
    engine = ctx.lookup(msg.model_name, msg.model_version === '' ? undefined : msg.model_version);
    label = msg.model_name;
    const { request, tensors, raw } = toOipRequest(msg);
    info = ctx.admit(engine);
    parsed = parseInferRequest(request, tensors, info, { framing: raw ? 'binary' : 'json', allowBinaryOutputs: true, limits: ctx.protocolLimits });
    const left = msLeft(deadline);
    if (left <= 0) throw new ParmError('PARM_ERR_ENGINE_TIMEOUT', 'the gRPC deadline passed before the request was run');
    parsed.timeoutMs = Math.min(parsed.timeoutMs ?? ctx.limits.requestTimeoutMs, Math.ceil(left));
  } catch (err) {
    fail(err);
    return;
  }
  ctx.begin('grpc');
  ctx.run(engine, parsed, signal).then(
    (result) => {
      let response: ModelInferResponse;
      try {
        response = toModelInferResponse(parsed, result, info);
      } catch (err) {
        fail(err);
        ctx.end('grpc');
        return;
      }
      ctx.metrics.success(label, 'grpc', (performance.now() - t0) / 1000, result.reconstructed);
      reply(null, response);
      ctx.end('grpc');
    },
    (err: unknown) => {
      fail(err);
      ctx.end('grpc');
    },
  );
}

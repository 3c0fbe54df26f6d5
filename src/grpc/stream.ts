// Triton's bidirectional ModelStreamInfer: each ModelInferRequest read from the stream is run as
// it arrives, and each answer (or error, in `error_message`, the stream staying open) is one
// ModelStreamInferResponse, in completion order (match them by `id`). Flow control instead of
// refusals: at maxInFlightPerConnection requests in flight, or while the client does not read its
// answers, the server stops reading the stream, so HTTP/2 flow control holds the client back.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { GRPC_STATUS } from '../errors.js';
import type { ServerContext } from '../server/context.js';
import { grpcError, inferOnce } from './infer-call.js';
import type { ModelInferRequest, ModelInferResponse } from './service.js';

export interface StreamInferResponse {
  error_message: string;
  infer_response: Partial<ModelInferResponse> | null;
}

export type InferStream = ServerDuplexStream<ModelInferRequest, StreamInferResponse>;

/** The open ModelStreamInfer calls, so that shutdown can end them. */
export class StreamRegistry {
  private readonly open = new Set<InferStream>();

  add(call: InferStream): void {
    this.open.add(call);
  }

  delete(call: InferStream): void {
    this.open.delete(call);
  }

  /** Ends every open stream with UNAVAILABLE (shutdown, after the requests in flight were answered). */
  endAll(details: string): void {
    for (const call of [...this.open]) call.emit('error', { code: GRPC_STATUS.UNAVAILABLE, details });
    this.open.clear();
  }
}

/** The ModelStreamInfer handler. */
export function modelStreamInfer(ctx: ServerContext, streams: StreamRegistry) {
  return (call: InferStream): void => {
    const limit = ctx.limits.maxInFlightPerConnection;
    // Withdraws every query of this stream when the client cancels or goes away.
    const abort = new AbortController();
    let inFlight = 0;
    let writeBlocked = false;
    let clientDone = false;
    let finished = false;
    streams.add(call);

    const flow = () => {
      if (inFlight >= limit || writeBlocked) call.pause();
      else call.resume();
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      streams.delete(call);
    };
    const send = (m: StreamInferResponse) => {
      if (finished) return;
      if (!call.write(m)) {
        writeBlocked = true;
        flow();
        call.once('drain', () => {
          writeBlocked = false;
          flow();
        });
      }
    };
    const maybeEnd = () => {
      if (clientDone && inFlight === 0 && !finished) {
        finish();
        call.end();
      }
    };

    call.on('data', (msg: ModelInferRequest) => {
      inFlight++;
      flow();
      inferOnce(ctx, msg, abort.signal, call.getDeadline(), (err, r) => {
        if (r) send({ error_message: '', infer_response: r });
        else send({ error_message: grpcError(ctx, err, msg.model_name, msg.id).details, infer_response: { model_name: msg.model_name, model_version: msg.model_version, id: msg.id } });
        inFlight--;
        flow();
        maybeEnd();
      });
    });
    call.on('end', () => {
      clientDone = true;
      maybeEnd();
    });
    call.on('cancelled', () => {
      finish();
      abort.abort();
    });
    // A failed write or a reset stream: nothing more can be sent; grpc-js has ended the call.
    call.on('error', () => {
      finish();
      abort.abort();
    });
  };
}

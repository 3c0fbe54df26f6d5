// POST /v2/models/{m}[/versions/{v}]/infer: route and headers checked before the body is read
// (errors then close the connection), the body read and parsed, the request admitted and run, and
// the answer sent as JSON or as a binary extension body.
import type { Engine, ModelInfo } from '../engine/types.js';
import { encodeHttpBody, readHttpBody } from '../wire/index.js';
import { ParmError } from '../errors.js';
import type { ServerContext } from './context.js';
import { readBody } from './http-body.js';
import { parseInferRequest, readRequestHeader, type ParsedInferRequest } from './infer-request.js';
import { encodeInferResponse } from './infer-response.js';
import { HttpExchange, errorReply, type Reply } from './replies.js';
import type { HttpRequest, HttpResponse } from './uws.js';

/** The JSON body, or the binary extension's header + tensor bytes with Inference-Header-Content-Length. */
function answerReply(header: string, chunks: readonly Uint8Array[]): Reply {
  if (chunks.length === 0) return { status: 200, body: header };
  const { body, headerLength } = encodeHttpBody(header, chunks);
  return { status: 200, body, contentType: 'application/octet-stream', headers: { 'Inference-Header-Content-Length': String(headerLength) } };
}

/** The route handler for the unversioned (`versioned` false) or versioned infer path. */
export function httpInfer(ctx: ServerContext, versioned: boolean) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const exchange = new HttpExchange(res, () => ctx.draining).watchAborted();
    // uWS request data is valid only during this call: read it all now.
    const model = req.getParameter(0) ?? '';
    const version = versioned ? req.getParameter(1) : undefined;
    const headerLength = req.getHeader('inference-header-content-length');
    const encoding = req.getHeader('content-encoding');
    // Unknown models and versions count under model="".
    let label = '';
    const fail = (err: unknown, closeConnection = false) => {
      const d = ctx.describe(err, label);
      ctx.metrics.failure(label, 'http', d.status);
      exchange.send(errorReply(d.status, d.message), closeConnection);
    };
    let engine: Engine;
    try {
      engine = ctx.lookup(model, version);
      label = model;
      if (encoding !== '' && encoding !== 'identity') {
        throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `Content-Encoding '${encoding}' is not supported; send the body uncompressed`);
      }
    } catch (err) {
      // Answer now and close: the unread body must not be parsed as the next request.
      fail(err, true);
      return;
    }
    const onBody = (body: Uint8Array) => {
      const t0 = performance.now();
      let parsed: ParsedInferRequest;
      // The model as admitted: the answer is encoded against it even if the model is unloaded meanwhile.
      let info: ModelInfo;
      try {
        const { header, tensors } = readHttpBody(body, headerLength);
        const request = readRequestHeader(header);
        info = ctx.admit(engine);
        parsed = parseInferRequest(request, tensors, info, { framing: 'json', allowBinaryOutputs: true, limits: ctx.protocolLimits });
      } catch (err) {
        fail(err);
        return;
      }
      ctx.begin('http');
      ctx.run(engine, parsed).then(
        (result) => {
          const enc = encodeInferResponse(parsed, result, info);
          ctx.metrics.success(label, 'http', (performance.now() - t0) / 1000, result.reconstructed);
          exchange.send(answerReply(enc.header, enc.chunks));
          ctx.end('http');
        },
        (err) => {
          fail(err);
          ctx.end('http');
        },
      );
    };
    readBody(res, req, exchange, ctx.limits.maxBodyBytes, onBody, (status) => ctx.metrics.failure(label, 'http', status));
  };
}

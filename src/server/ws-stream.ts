// The WebSocket stream /v2/models/{m}[/versions/{v}]/infer/stream: per-connection state, the
// message handler (onStreamMessage: one request per message, answered in its own framing), the
// parked queue that stops starting work for a client that does not read, and the close rules
// (1002 framing, 1009 size, 1008 backpressure, 1001 shutdown).
import { ParmError } from '../errors.js';
import type { Engine, ModelInfo } from '../engine/types.js';
import { encodeFrame, errorResponse, readMessage, type Framing, type RequestId } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { parseInferRequest, readRequestHeader, type ParsedInferRequest } from './infer-request.js';
import { encodeInferResponse } from './infer-response.js';
import { HttpExchange, errorReply } from './replies.js';
import type { HttpRequest, HttpResponse, TemplatedApp, UwsModule, WebSocket } from './uws.js';

/** Per-WebSocket state (uWS user data), from upgrade to close. */
export interface StreamConnection {
  /** Deployment name: the metrics label. */
  readonly model: string;
  readonly engine: Engine;
  /** Requests accepted and not yet answered, parked ones included; changed by accept() and each answer. */
  inFlight: number;
  /** Requests accepted while the client was not reading, in arrival order; releaseParked() starts them. */
  readonly parked: Array<() => void>;
  /**
   * Set on the close event, or when the server ends the connection. A uWS WebSocket must not be
   * touched after its close event, so every path that sends checks it first.
   */
  closed: boolean;
}

type StreamSocket = WebSocket<StreamConnection>;

/** Sends one answer, unless the client's backlog is past the hard limit: then it is closed (1008). */
function send(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, header: string, chunks: readonly Uint8Array[]): void {
  if (c.closed) return;
  if (ws.getBufferedAmount() > ctx.limits.wsMaxBackpressureBytes) {
    c.closed = true;
    ctx.log.warn({ model: c.model, buffered: ws.getBufferedAmount() }, 'closing a WebSocket client that does not read');
    ws.end(1008, 'backpressure limit exceeded: the client is not reading');
    return;
  }
  ws.cork(() => {
    if (framing === 'binary') ws.send(encodeFrame(header, chunks), true);
    else ws.send(header, false);
  });
}

/** An error answer `{"id", "error"}` in the request's framing; the connection stays open. */
function answerError(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, id: RequestId | null, err: unknown): void {
  const d = ctx.describe(err, c.model, id);
  ctx.metrics.failure(c.model, 'ws', d.status);
  send(ctx, ws, c, framing, errorResponse(d.message, id), []);
}

/** Closes the connection for a framing violation, with a reason. */
function protocolClose(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, code: number, reason: string): void {
  if (c.closed) return;
  c.closed = true;
  ctx.metrics.failure(c.model, 'ws', 400);
  // Close reasons are at most 123 bytes of UTF-8.
  ws.end(code, Buffer.from(reason, 'utf8').subarray(0, 123));
}

/** Starts parked requests while the client's backlog is under the soft limit (on message, drain, answer). */
export function releaseParked(ctx: ServerContext, ws: StreamSocket, c: StreamConnection = ws.getUserData()): void {
  // `c.closed` first: the socket must not be touched after its close event.
  while (!c.closed && c.parked.length > 0 && ws.getBufferedAmount() <= ctx.limits.wsBackpressureBytes) c.parked.shift()!();
}

/** Counts a parsed request in flight and queues it behind any parked ones; it starts now if the client keeps up. */
function accept(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, parsed: ParsedInferRequest, info: ModelInfo): void {
  const t0 = performance.now();
  const id = parsed.id ?? null;
  c.inFlight++;
  ctx.begin('ws');
  const answered = () => {
    c.inFlight--;
    ctx.end('ws');
    releaseParked(ctx, ws, c);
  };
  c.parked.push(() => {
    ctx.run(c.engine, parsed).then(
      (result) => {
        // Against the model as admitted, even if it is unloaded meanwhile.
        const enc = encodeInferResponse(parsed, result, info);
        if (!c.closed) ctx.metrics.success(c.model, 'ws', (performance.now() - t0) / 1000, result.reconstructed);
        send(ctx, ws, c, framing, enc.header, enc.chunks);
        answered();
      },
      (err) => {
        answerError(ctx, ws, c, framing, id, err);
        answered();
      },
    );
  });
  releaseParked(ctx, ws, c);
}

/**
 * One stream message, one request. In order: the size limit (1009), the framing (1002), then
 * every other problem is an error answer that echoes the id when it could be read: JSON, the id
 * (required on the stream), the connection's in-flight limit, admission, the request itself.
 */
export function onStreamMessage(ctx: ServerContext, ws: StreamSocket, message: ArrayBuffer, isBinary: boolean): void {
  const c = ws.getUserData();
  if (c.closed) return;
  const bytes = new Uint8Array(message);
  const max = ctx.limits.maxMessageBytes;
  if (bytes.length > max) {
    protocolClose(ctx, ws, c, 1009, `message of ${bytes.length} bytes exceeds the limit of ${max} bytes`);
    return;
  }
  const framing: Framing = isBinary ? 'binary' : 'json';
  let id: RequestId | null = null;
  let parsed: ParsedInferRequest;
  let info: ModelInfo;
  try {
    const { header, tensors } = readMessage(bytes, isBinary);
    const request = readRequestHeader(header);
    id = request.id ?? null;
    if (request.id === undefined || request.id === '') {
      throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "missing 'id': every stream request needs an id to match its answer");
    }
    const limit = ctx.limits.maxInFlightPerConnection;
    if (c.inFlight >= limit) {
      throw new ParmError('PARM_ERR_SERVER_OVERLOADED', `too many requests in flight on this connection (limit ${limit}); wait for answers`);
    }
    info = ctx.admit(c.engine);
    parsed = parseInferRequest(request, tensors, info, { framing, allowBinaryOutputs: isBinary, limits: ctx.protocolLimits });
  } catch (err) {
    if (err instanceof ParmError && err.code === 'PARM_ERR_SERVER_PROTOCOL') protocolClose(ctx, ws, c, 1002, err.message);
    else answerError(ctx, ws, c, framing, id, err);
    return;
  }
  accept(ctx, ws, c, framing, parsed, info);
}

/** The close event: parked requests never started, so their in-flight accounting is released here. */
export function onStreamClose(ctx: ServerContext, ws: StreamSocket): void {
  const c = ws.getUserData();
  c.closed = true;
  for (let i = 0; i < c.parked.length; i++) {
    c.inFlight--;
    ctx.end('ws');
  }
  c.parked.length = 0;
  ctx.metrics.wsConnections.dec();
}

/** What the server keeps of its stream endpoint: a way to close every open stream at shutdown. */
export interface StreamEndpoint {
  closeAll(code: number, reason: string): void;
}

/** Registers the stream on both paths (unversioned and versioned). */
export function registerStream(app: TemplatedApp, ctx: ServerContext, uws: UwsModule): StreamEndpoint {
  const sockets = new Set<StreamSocket>();
  const behavior = (versioned: boolean) => ({
    // Twice the limit, so that messages between the two get a close with a reason (1009) from us
    // rather than uWS's bare disconnect; beyond it uWS drops the connection without buffering more.
    maxPayloadLength: ctx.limits.maxMessageBytes * 2,
    idleTimeout: ctx.limits.idleTimeoutSec,
    // We enforce the limit ourselves before each send (and close); uWS must never drop silently.
    maxBackpressure: ctx.limits.wsMaxBackpressureBytes + ctx.limits.maxMessageBytes * 2 + 1024 * 1024,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    compression: uws.DISABLED,
    upgrade: (res: HttpResponse, req: HttpRequest, context: unknown) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let engine: Engine;
      try {
        // A connection (not a request) is refused while draining; its requests pass ctx.admit.
        if (ctx.draining) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
        engine = ctx.lookup(req.getParameter(0) ?? '', versioned ? req.getParameter(1) : undefined);
      } catch (err) {
        const d = ctx.describe(err, '');
        new HttpExchange(res, () => ctx.draining).send(errorReply(d.status, d.message), true);
        return;
      }
      const conn: StreamConnection = { model: engine.options.name, engine, inFlight: 0, parked: [], closed: false };
      res.upgrade(conn, key, protocol, extensions, context as Parameters<HttpResponse['upgrade']>[4]);
    },
    open: (ws: StreamSocket) => {
      sockets.add(ws);
      ctx.metrics.wsConnections.inc();
    },
    message: (ws: StreamSocket, message: ArrayBuffer, isBinary: boolean) => onStreamMessage(ctx, ws, message, isBinary),
    drain: (ws: StreamSocket) => releaseParked(ctx, ws),
    close: (ws: StreamSocket) => {
      sockets.delete(ws);
      onStreamClose(ctx, ws);
    },
  });
  app.ws<StreamConnection>('/v2/models/:model/infer/stream', behavior(false));
  app.ws<StreamConnection>('/v2/models/:model/versions/:version/infer/stream', behavior(true));
  return {
    closeAll(code, reason) {
      for (const ws of [...sockets]) {
        const c = ws.getUserData();
        if (!c.closed) {
          c.closed = true;
          ws.end(code, reason);
        }
      }
    },
  };
}

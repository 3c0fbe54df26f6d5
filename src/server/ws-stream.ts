// The WebSocket stream /v2/models/{m}[/versions/{v}]/infer/stream: per-connection state, the
// message handler (onStreamMessage: one request per message, answered in its own framing), the
// connection's FIFO of requests waiting to start (beyond the in-flight limit, or while the client
// does not read; bounded in bytes), and the close rules (1002 framing, 1009 size, 1008
// backpressure, 1001 shutdown).
import { ParmError } from '../errors.js';
import type { Engine, ModelInfo } from '../engine/types.js';
import { encodeFrame, encodeFrameInto, errorResponse, readMessage, type Framing, type RequestId } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { parseInferRequest, readRequestHeader, type ParsedInferRequest } from './infer-request.js';
import { encodeInferResponse } from './infer-response.js';
import { HttpExchange, errorReply } from './replies.js';
import type { HttpRequest, HttpResponse, TemplatedApp, UwsModule, WebSocket } from './uws.js';

/** An accepted request waiting in its connection's FIFO. */
interface WaitingRequest {
  id: RequestId | null;
  /** When its message arrived (performance.now()). */
  t0: number;
  /** Size of its message: what it counts against wsMaxQueuedBytes. */
  bytes: number;
  start: () => void;
}

/** Per-WebSocket state (uWS user data), from upgrade to close. */
export interface StreamConnection {
  /** Deployment name: the metrics label. */
  readonly model: string;
  readonly engine: Engine;
  /** Requests accepted and not yet answered, waiting ones included; changed by accept() and each answer. */
  inFlight: number;
  /** Requests started on the engine and not answered: at most maxInFlightPerConnection. */
  running: number;
  /**
   * Requests accepted and not started, in arrival order: beyond the in-flight limit, or while the
   * client does not read. releaseParked() starts them.
   */
  readonly parked: WaitingRequest[];
  /** Message bytes of the requests in `parked`: at most wsMaxQueuedBytes. */
  queuedBytes: number;
  /**
   * Set on the close event, or when the server ends the connection. A uWS WebSocket must not be
   * touched after its close event, so every path that sends checks it first.
   */
  closed: boolean;
}

/** A connection's state at upgrade. */
export function streamConnection(model: string, engine: Engine): StreamConnection {
  return { model, engine, inFlight: 0, running: 0, parked: [], queuedBytes: 0, closed: false };
}

type StreamSocket = WebSocket<StreamConnection>;

/**
 * Where binary answers are framed, reused: uWS copies what it sends (into the socket or its own
 * backpressure buffer) before send returns. An answer that does not fit gets a frame of its own.
 */
const scratch = new Uint8Array(256 * 1024);

function frame(header: string, chunks: readonly Uint8Array[]): Uint8Array {
  const n = encodeFrameInto(scratch, header, chunks);
  return n >= 0 ? scratch.subarray(0, n) : encodeFrame(header, chunks);
}

/**
 * Sends one answer, unless the connection is closed or the client's backlog is past the hard
 * limit (then it is closed, 1008). Returns whether the answer was handed to the socket.
 */
function send(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, header: string, chunks: readonly Uint8Array[]): boolean {
  if (c.closed) return false;
  if (ws.getBufferedAmount() > ctx.limits.wsMaxBackpressureBytes) {
    c.closed = true;
    ctx.log.warn({ model: c.model, buffered: ws.getBufferedAmount() }, 'closing a WebSocket client that does not read');
    ws.end(1008, 'backpressure limit exceeded: the client is not reading');
    return false;
  }
  ws.cork(() => {
    if (framing === 'binary') ws.send(frame(header, chunks), true);
    else ws.send(header, false);
  });
  return true;
}

/** An error answer `{"id", "error"}` in the request's framing; the connection stays open. */
function answerError(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, id: RequestId | null, t0: number, err: unknown): void {
  const d = ctx.describe(err, c.model, id);
  const delivered = send(ctx, ws, c, framing, errorResponse(d.message, id), []);
  ctx.finish({ model: c.model, transport: 'ws', id, t0, status: d.status, delivered });
}

/** Closes the connection for a framing violation, with a reason. */
function protocolClose(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, code: number, reason: string): void {
  if (c.closed) return;
  c.closed = true;
  ctx.finish({ model: c.model, transport: 'ws', id: null, t0: performance.now(), status: 400, delivered: true });
  // Close reasons are at most 123 bytes of UTF-8.
  ws.end(code, Buffer.from(reason, 'utf8').subarray(0, 123));
}

/** A new request would wait rather than start at once: others wait, the in-flight limit is reached, or the client is not reading. */
function mustWait(ctx: ServerContext, ws: StreamSocket, c: StreamConnection): boolean {
  return c.parked.length > 0 || c.running >= ctx.limits.maxInFlightPerConnection || ws.getBufferedAmount() > ctx.limits.wsBackpressureBytes;
}

/**
 * Starts waiting requests in order while fewer than maxInFlightPerConnection run and the client's
 * backlog is under the soft limit (on message, drain, answer).
 */
export function releaseParked(ctx: ServerContext, ws: StreamSocket, c: StreamConnection = ws.getUserData()): void {
  // `c.closed` first: the socket must not be touched after its close event.
  while (!c.closed && c.parked.length > 0 && c.running < ctx.limits.maxInFlightPerConnection && ws.getBufferedAmount() <= ctx.limits.wsBackpressureBytes) {
    const next = c.parked.shift()!;
    c.queuedBytes -= next.bytes;
    c.running++;
    next.start();
  }
}

/** Counts a parsed request in flight and queues it behind any waiting ones; it starts now if it may. */
function accept(ctx: ServerContext, ws: StreamSocket, c: StreamConnection, framing: Framing, parsed: ParsedInferRequest, info: ModelInfo, t0: number, bytes: number): void {
  const id = parsed.id ?? null;
  c.inFlight++;
  ctx.begin('ws');
  const answered = () => {
    c.running--;
    c.inFlight--;
    ctx.end('ws');
    releaseParked(ctx, ws, c);
  };
  const start = () => {
    ctx.run(c.engine, parsed).then(
      (result) => {
        // Against the model as admitted, even if it is unloaded meanwhile.
        const enc = encodeInferResponse(parsed, result, info);
        const delivered = send(ctx, ws, c, framing, enc.header, enc.chunks);
        ctx.finish({ model: c.model, transport: 'ws', id, t0, status: 200, reconstructed: result.reconstructed, delivered });
        answered();
      },
      (err) => {
        answerError(ctx, ws, c, framing, id, t0, err);
        answered();
      },
    );
  };
  c.parked.push({ id, t0, bytes, start });
  c.queuedBytes += bytes;
  releaseParked(ctx, ws, c);
}

/**
 * One stream message, one request. In order: the size limit (1009), the framing (1002), then
 * every other problem is an error answer that echoes the id when it could be read: JSON, the id
 * (required on the stream), the bound on waiting requests, admission, the request itself.
 */
export function onStreamMessage(ctx: ServerContext, ws: StreamSocket, message: ArrayBuffer, isBinary: boolean): void {
  const c = ws.getUserData();
  if (c.closed) return;
  const t0 = performance.now();
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
    const queueLimit = ctx.limits.wsMaxQueuedBytes;
    if (mustWait(ctx, ws, c) && c.queuedBytes + bytes.length > queueLimit) {
      throw new ParmError('PARM_ERR_SERVER_OVERLOADED', `too many requests waiting on this connection (${c.queuedBytes} bytes queued, limit ${queueLimit} bytes); wait for answers`);
    }
    info = ctx.admit(c.engine);
    parsed = parseInferRequest(request, tensors, info, { framing, allowBinaryOutputs: isBinary, limits: ctx.protocolLimits });
  } catch (err) {
    if (err instanceof ParmError && err.code === 'PARM_ERR_SERVER_PROTOCOL') protocolClose(ctx, ws, c, 1002, err.message);
    else answerError(ctx, ws, c, framing, id, t0, err);
    return;
  }
  accept(ctx, ws, c, framing, parsed, info, t0, bytes.length);
}

/** The close event: waiting requests never start; each ends here as aborted, and its accounting is released. */
export function onStreamClose(ctx: ServerContext, ws: StreamSocket): void {
  const c = ws.getUserData();
  c.closed = true;
  for (const w of c.parked) {
    c.inFlight--;
    ctx.end('ws');
    ctx.finish({ model: c.model, transport: 'ws', id: w.id, t0: w.t0, status: 503, delivered: false });
  }
  c.parked.length = 0;
  c.queuedBytes = 0;
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
      const conn = streamConnection(engine.options.name, engine);
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

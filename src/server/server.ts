// The network front: Open Inference Protocol v2 over HTTP and a pipelined WebSocket stream, on the
// native uWebSockets.js. It validates every request at the edge, hands tensors to the engines, and
// bounds what one client can make the server hold (body size, in-flight requests, backpressure).
import { endianness } from 'node:os';
import { pino, type Logger } from 'pino';
import { ParmError, httpStatusOf } from '../errors.js';
import type { Engine, InferResult, ModelInfo } from '../engine/types.js';
import { ServerMetrics, type Transport } from './metrics.js';
import {
  buildBinaryFrame,
  echoableId,
  encodeInferResponse,
  errorBody,
  parseInferRequest,
  parseJsonBytes,
  splitBinaryFrame,
  splitHttpBody,
  type Framing,
  type ParsedInferRequest,
  type RequestId,
} from './protocol.js';
import { loadUws, type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocket, type us_listen_socket } from './uws.js';

/** What one client may make the server hold. docs/protocol.md lists each with its default. */
export interface ServerLimits {
  /** Largest HTTP request body (413 beyond). */
  maxBodyBytes: number;
  /** Largest WebSocket message: close 1009 with a reason beyond it; beyond twice this uWS drops the connection unread. */
  maxMessageBytes: number;
  /** Largest leading (batch) dimension in one request. */
  maxBatch: number;
  /** Requests accepted and not yet answered on one WebSocket connection; more get an error answer. */
  maxInFlightPerConnection: number;
  /** Bytes queued to a WebSocket client above which the server stops starting its new requests. */
  wsBackpressureBytes: number;
  /** Bytes queued to a WebSocket client above which the server closes it (1008): it is not reading. */
  wsMaxBackpressureBytes: number;
  /** Seconds without traffic before a WebSocket is closed (uWS rounds to multiples of 4; 0 disables). */
  idleTimeoutSec: number;
  /** Engine timeout for a request that does not set parm_timeout_ms. */
  requestTimeoutMs: number;
  /** Graceful shutdown: how long to wait for in-flight requests before closing anyway. */
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024,
  maxBatch: 1024,
  maxInFlightPerConnection: 64,
  wsBackpressureBytes: 1024 * 1024,
  wsMaxBackpressureBytes: 8 * 1024 * 1024,
  idleTimeoutSec: 120,
  requestTimeoutMs: 30_000,
  drainTimeoutMs: 10_000,
};

export interface ServerOptions {
  /** Engines to serve, each under its `info.name`. */
  engines: readonly Engine[];
  host?: string;
  /** 0 picks a free port (read it from `server.port`). */
  port?: number;
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  /** Close the engines when the server closes (default true). */
  closeEngines?: boolean;
}

export interface ParmServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly metrics: ServerMetrics;
  readonly limits: Readonly<ServerLimits>;
  /** Stop accepting, answer what is in flight (up to drainTimeoutMs), close connections and engines. */
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Error`;
}

/** Per-WebSocket state (uWS user data). Valid from open to close; `closed` guards late answers. */
interface Conn {
  model: string;
  engine: Engine;
  inFlight: number;
  /** Requests accepted while the client was not reading, started when its backlog drains. */
  parked: Array<() => void>;
  closed: boolean;
}

const SERVER_NAME = 'parm';
const SERVER_VERSION = '0.1.0';
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'parm_reconstruction', 'parm_stream'];

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Rejects limits uWebSockets.js would abort the process on (it does not throw for these), or that
 * make no sense.
 */
export function checkLimits(l: ServerLimits): ServerLimits {
  const bad = (m: string): never => {
    throw new ParmError('PARM_ERR_SERVER_CONFIG', `limits.${m}`);
  };
  for (const [k, v] of Object.entries(l)) if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`${k} must be a number >= 0, got ${JSON.stringify(v)}`);
  if (l.idleTimeoutSec !== 0 && (l.idleTimeoutSec < 8 || l.idleTimeoutSec > 960)) bad(`idleTimeoutSec must be 0 (off) or in [8, 960], got ${l.idleTimeoutSec}`);
  if (l.maxMessageBytes < 1024 || l.maxMessageBytes > 1 << 30) bad(`maxMessageBytes must be in [1024, 2^30], got ${l.maxMessageBytes}`);
  if (l.maxBodyBytes < 1024) bad(`maxBodyBytes must be >= 1024, got ${l.maxBodyBytes}`);
  if (l.maxInFlightPerConnection < 1) bad(`maxInFlightPerConnection must be >= 1`);
  if (l.maxBatch < 1) bad(`maxBatch must be >= 1`);
  if (l.wsMaxBackpressureBytes < l.wsBackpressureBytes) bad(`wsMaxBackpressureBytes must be >= wsBackpressureBytes`);
  return l;
}

export async function startServer(options: ServerOptions): Promise<ParmServer> {
  if (endianness() !== 'LE') throw new Error('the binary tensor format is little-endian; this host is big-endian');
  const uws = loadUws();
  const limits = checkLimits({ ...DEFAULT_LIMITS, ...options.limits });
  const log = options.logger ?? pino({ level: 'silent' });
  const engines = new Map<string, Engine>();
  for (const e of options.engines) {
    // Keyed by the deployment name: `info` (the same name) exists only once the engine has loaded.
    const name = e.options.name;
    if (engines.has(name)) throw new ParmError('PARM_ERR_SERVER_CONFIG', `two deployments are named '${name}'`);
    engines.set(name, e);
  }
  const metrics = new ServerMetrics(engines);
  const protocolLimits = { maxBatch: limits.maxBatch };
  const sockets = new Set<WebSocket<Conn>>();
  let draining = false;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  const begin = (t: Transport) => {
    inFlight++;
    metrics.inFlight.inc({ transport: t });
  };
  const end = (t: Transport) => {
    inFlight--;
    metrics.inFlight.dec({ transport: t });
    if (inFlight === 0 && onIdle) onIdle();
  };

  /** The engine's model description; it exists once the engine has loaded its instances. */
  const infoOf = (e: Engine): ModelInfo => {
    const info = e.info as ModelInfo | undefined;
    if (!info) throw new ParmError('PARM_ERR_SERVER_NOT_READY', `model '${e.options.name}' is not ready (loading)`);
    return info;
  };

  /** Engine for a route, or a ParmError naming what is missing. */
  const lookup = (model: string, version: string | undefined): Engine => {
    const e = engines.get(model);
    if (!e) throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown model '${model}'`);
    if (version !== undefined && version !== infoOf(e).version) {
      throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown version '${version}' of model '${model}' (serving version '${infoOf(e).version}')`);
    }
    return e;
  };

  const runInfer = (engine: Engine, req: ParsedInferRequest): Promise<InferResult> => {
    if (draining) return Promise.reject(new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down'));
    if (!engine.isReady()) return Promise.reject(new ParmError('PARM_ERR_SERVER_NOT_READY', `model '${engine.options.name}' is not ready`));
    // A single query goes in without its batch dimension (the engine's coding unit); a batch as is.
    const input = req.shape[0] === 1 ? req.data : { data: req.data, shape: req.shape };
    return engine.infer(input, { decode: req.decode, timeoutMs: req.timeoutMs ?? limits.requestTimeoutMs });
  };

  const app: TemplatedApp = uws.App();

  // ---------------------------------------------------------------- HTTP
  type Reply = { status: number; body: string | Uint8Array; contentType?: string; headers?: Record<string, string> };

  const send = (res: HttpResponse, state: { done: boolean }, r: Reply, closeConnection = false) => {
    if (state.done) return;
    state.done = true;
    res.cork(() => {
      res.writeStatus(statusLine(r.status));
      res.writeHeader('Content-Type', r.contentType ?? 'application/json');
      for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
      res.end(r.body, closeConnection || draining);
    });
  };
  const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) });
  const errorReply = (err: unknown): Reply => {
    const status = httpStatusOf(err);
    if (status >= 500 && !(err instanceof ParmError)) log.error({ err }, 'unexpected error');
    const message = status === 500 && !(err instanceof ParmError) ? `internal error: ${messageOf(err)}` : messageOf(err);
    return { status, body: errorBody(message) };
  };

  /** Routes that answer synchronously from state (no body to read). */
  const simple = (handler: (req: HttpRequest) => Reply | Promise<Reply>) => (res: HttpResponse, req: HttpRequest) => {
    const state = { done: false };
    let out: Reply | Promise<Reply>;
    try {
      out = handler(req);
    } catch (err) {
      out = errorReply(err);
    }
    if (out instanceof Promise) {
      res.onAborted(() => {
        state.done = true;
      });
      out.then(
        (r) => send(res, state, r),
        (err) => send(res, state, errorReply(err)),
      );
    } else {
      send(res, state, out);
    }
  };

  const healthy = (ok: boolean): Reply => ({ status: ok ? 200 : 400, body: '' });

  app.get('/v2', simple(() => json(200, { name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS })));
  app.get('/v2/health/live', simple(() => healthy(!draining)));
  app.get('/v2/health/ready', simple(() => healthy(!draining && [...engines.values()].every((e) => e.isReady()))));
  const metadata = (versioned: boolean) =>
    simple((req) => {
      const e = lookup(req.getParameter(0) ?? '', versioned ? req.getParameter(1) : undefined);
      const i = infoOf(e);
      return json(200, {
        name: i.name,
        versions: [i.version],
        platform: i.platform,
        inputs: i.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
        outputs: i.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      });
    });
  app.get('/v2/models/:model', metadata(false));
  app.get('/v2/models/:model/versions/:version', metadata(true));
  const modelReady = (versioned: boolean) =>
    simple((req) => {
      const e = lookup(req.getParameter(0) ?? '', versioned ? req.getParameter(1) : undefined);
      return healthy(!draining && e.isReady());
    });
  app.get('/v2/models/:model/ready', modelReady(false));
  app.get('/v2/models/:model/versions/:version/ready', modelReady(true));
  app.get(
    '/metrics',
    simple(async () => ({ status: 200, body: await metrics.text(), contentType: metrics.registry.contentType })),
  );

  /** Reads a request body up to maxBodyBytes; calls back once with the whole body or not at all (413 sent). */
  const readBody = (
    res: HttpResponse,
    req: HttpRequest,
    state: { done: boolean },
    cb: (body: Uint8Array) => void,
    onFail: (status: number) => void = () => {},
  ) => {
    const declared = req.getHeader('content-length');
    const max = limits.maxBodyBytes;
    const refuse = (status: number, message: string) => {
      if (!state.done) onFail(status);
      send(res, state, { status, body: errorBody(message) }, true);
    };
    const tooLarge = (n: number) => refuse(413, `request body of ${n} bytes exceeds the limit of ${max} bytes`);
    if (declared !== '') {
      const n = Number(declared);
      if (!Number.isSafeInteger(n) || n < 0) {
        refuse(400, `invalid Content-Length '${declared}'`);
        return;
      }
      if (n > max) {
        tooLarge(n);
        return;
      }
      const buf = Buffer.allocUnsafe(n);
      let off = 0;
      res.onData((chunk, isLast) => {
        if (state.done) return;
        const c = new Uint8Array(chunk);
        if (off + c.length > n) {
          refuse(400, 'body longer than Content-Length');
          return;
        }
        buf.set(c, off);
        off += c.length;
        if (isLast) cb(buf.subarray(0, off));
      });
      return;
    }
    const parts: Buffer[] = [];
    let total = 0;
    res.onData((chunk, isLast) => {
      if (state.done) return;
      total += chunk.byteLength;
      if (total > max) {
        tooLarge(total);
        return;
      }
      parts.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) cb(Buffer.concat(parts, total));
    });
  };

  const httpInfer = (versioned: boolean) => (res: HttpResponse, req: HttpRequest) => {
    const state = { done: false };
    res.onAborted(() => {
      state.done = true;
    });
    const model = req.getParameter(0) ?? '';
    const version = versioned ? req.getParameter(1) : undefined;
    const headerLength = req.getHeader('inference-header-content-length');
    const encoding = req.getHeader('content-encoding');
    let engine: Engine | undefined;
    let label = '';
    const fail = (err: unknown, closeConnection = false) => {
      const r = errorReply(err);
      metrics.failure(label, 'http', r.status);
      send(res, state, r, closeConnection);
    };
    try {
      if (draining) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
      engine = lookup(model, version);
      label = model;
      if (encoding !== '' && encoding !== 'identity') {
        throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `Content-Encoding '${encoding}' is not supported; send the body uncompressed`);
      }
    } catch (err) {
      // Answer now and close: the unread body must not be parsed as the next request.
      fail(err, true);
      return;
    }
    const e = engine;
    const onBody = (body: Uint8Array) => {
      const t0 = performance.now();
      let parsed: ParsedInferRequest;
      try {
        const { header, binary } = splitHttpBody(body, headerLength === '' ? undefined : headerLength);
        parsed = parseInferRequest(header, binary, infoOf(e), { framing: 'json', allowBinaryOutputs: true, limits: protocolLimits });
      } catch (err) {
        fail(err);
        return;
      }
      begin('http');
      runInfer(e, parsed).then(
        (result) => {
          const enc = encodeInferResponse(parsed, result, infoOf(e));
          metrics.success(label, 'http', (performance.now() - t0) / 1000, result.reconstructed);
          if (enc.chunks.length === 0) {
            send(res, state, { status: 200, body: enc.header });
          } else {
            const headerBytes = Buffer.from(enc.header, 'utf8');
            send(res, state, {
              status: 200,
              body: Buffer.concat([headerBytes, ...enc.chunks]),
              contentType: 'application/octet-stream',
              headers: { 'Inference-Header-Content-Length': String(headerBytes.length) },
            });
          }
          end('http');
        },
        (err) => {
          fail(err);
          end('http');
        },
      );
    };
    readBody(res, req, state, onBody, (status) => metrics.failure(label, 'http', status));
  };
  app.post('/v2/models/:model/infer', httpInfer(false));
  app.post('/v2/models/:model/versions/:version/infer', httpInfer(true));

  app.post('/v2/repository/index', (res, req) => {
    const state = { done: false };
    res.onAborted(() => {
      state.done = true;
    });
    readBody(res, req, state, (body) => {
      let readyOnly = false;
      try {
        if (body.length > 0) {
          const h = parseJsonBytes(body, 'request body');
          if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', 'the repository index request must be a JSON object');
          const r = (h as Record<string, unknown>).ready;
          if (r !== undefined && typeof r !== 'boolean') throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "'ready' must be a boolean");
          readyOnly = r === true;
        }
      } catch (err) {
        send(res, state, errorReply(err));
        return;
      }
      const list = [...engines.values()]
        .map((e) => ({
          name: e.options.name,
          version: e.info?.version ?? e.options.version ?? '',
          state: e.isReady() ? 'READY' : 'UNAVAILABLE',
          reason: e.isReady() ? '' : 'loading',
        }))
        .filter((m) => !readyOnly || m.state === 'READY');
      send(res, state, json(200, list));
    });
  });

  // ---------------------------------------------------------------- WebSocket stream
  const wsSend = (ws: WebSocket<Conn>, c: Conn, framing: Framing, header: string, chunks: readonly Uint8Array[]) => {
    if (c.closed) return;
    if (ws.getBufferedAmount() > limits.wsMaxBackpressureBytes) {
      c.closed = true;
      log.warn({ model: c.model, buffered: ws.getBufferedAmount() }, 'closing a WebSocket client that does not read');
      ws.end(1008, 'backpressure limit exceeded: the client is not reading');
      return;
    }
    ws.cork(() => {
      if (framing === 'binary') ws.send(buildBinaryFrame(header, chunks), true);
      else ws.send(header, false);
    });
  };
  const wsError = (ws: WebSocket<Conn>, c: Conn, framing: Framing, id: RequestId | null, err: unknown) => {
    const status = httpStatusOf(err);
    metrics.failure(c.model, 'ws', status);
    const message = status === 500 && !(err instanceof ParmError) ? `internal error: ${messageOf(err)}` : messageOf(err);
    wsSend(ws, c, framing, errorBody(message, id), []);
  };
  const wsProtocolClose = (ws: WebSocket<Conn>, c: Conn, code: number, reason: string) => {
    if (c.closed) return;
    c.closed = true;
    metrics.failure(c.model, 'ws', 400);
    // Close reasons are at most 123 bytes of UTF-8.
    ws.end(code, Buffer.from(reason, 'utf8').subarray(0, 123));
  };

  const onMessage = (ws: WebSocket<Conn>, message: ArrayBuffer, isBinary: boolean) => {
    const c = ws.getUserData();
    if (c.closed) return;
    const bytes = new Uint8Array(message);
    if (bytes.length > limits.maxMessageBytes) {
      wsProtocolClose(ws, c, 1009, `message of ${bytes.length} bytes exceeds the limit of ${limits.maxMessageBytes} bytes`);
      return;
    }
    const framing: Framing = isBinary ? 'binary' : 'json';
    let header: unknown;
    let binary: Uint8Array;
    try {
      if (isBinary) {
        const split = splitBinaryFrame(bytes);
        header = parseJsonBytes(split.headerBytes, 'frame header');
        binary = split.binary;
      } else {
        header = parseJsonBytes(bytes, 'text frame');
        binary = bytes.subarray(0, 0);
      }
    } catch (err) {
      if (err instanceof ParmError && err.code === 'PARM_ERR_SERVER_PROTOCOL') {
        wsProtocolClose(ws, c, 1002, err.message);
      } else {
        wsError(ws, c, framing, null, err);
      }
      return;
    }
    const id = echoableId(header);
    let parsed: ParsedInferRequest;
    try {
      const rawId = typeof header === 'object' && header !== null && !Array.isArray(header) ? (header as { id?: unknown }).id : 0;
      if (rawId === undefined || rawId === null || rawId === '') {
        throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "missing 'id': every stream request needs an id to match its answer");
      }
      if (c.inFlight >= limits.maxInFlightPerConnection) {
        throw new ParmError(
          'PARM_ERR_SERVER_OVERLOADED',
          `too many requests in flight on this connection (limit ${limits.maxInFlightPerConnection}); wait for answers`,
        );
      }
      parsed = parseInferRequest(header, binary, infoOf(c.engine), {
        framing,
        allowBinaryOutputs: isBinary,
        limits: protocolLimits,
      });
      if (parsed.id === undefined || parsed.id === '') throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "missing 'id': every stream request needs an id to match its answer");
    } catch (err) {
      wsError(ws, c, framing, id, err);
      return;
    }
    const t0 = performance.now();
    c.inFlight++;
    begin('ws');
    const start = () => {
      runInfer(c.engine, parsed).then(
        (result) => {
          const enc = encodeInferResponse(parsed, result, infoOf(c.engine));
          if (!c.closed) metrics.success(c.model, 'ws', (performance.now() - t0) / 1000, result.reconstructed);
          wsSend(ws, c, framing, enc.header, enc.chunks);
          c.inFlight--;
          end('ws');
          releaseParked(ws, c);
        },
        (err) => {
          wsError(ws, c, framing, parsed.id!, err);
          c.inFlight--;
          end('ws');
          releaseParked(ws, c);
        },
      );
    };
    // FIFO: a request waits behind parked ones; it starts now only if the client is keeping up.
    c.parked.push(start);
    releaseParked(ws, c);
  };

  /** Starts parked requests while the client's backlog is under the soft limit (on message, drain, answer). */
  function releaseParked(ws: WebSocket<Conn>, c: Conn = ws.getUserData()): void {
    // `c.closed` first: a uWS WebSocket must not be touched after its close event.
    while (!c.closed && c.parked.length > 0 && ws.getBufferedAmount() <= limits.wsBackpressureBytes) c.parked.shift()!();
  }

  const wsBehavior = (versioned: boolean) => ({
    // Twice the limit, so that messages between the two get a close with a reason (1009) from us
    // rather than uWS's bare disconnect; beyond it uWS drops the connection without buffering more.
    maxPayloadLength: limits.maxMessageBytes * 2,
    idleTimeout: limits.idleTimeoutSec,
    // We enforce the limit ourselves before each send (and close); uWS must never drop silently.
    maxBackpressure: limits.wsMaxBackpressureBytes + limits.maxMessageBytes * 2 + 1024 * 1024,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    compression: uws.DISABLED,
    upgrade: (res: HttpResponse, req: HttpRequest, context: unknown) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let engine: Engine;
      try {
        if (draining) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
        engine = lookup(req.getParameter(0) ?? '', versioned ? req.getParameter(1) : undefined);
      } catch (err) {
        const r = errorReply(err);
        res.writeStatus(statusLine(r.status)).writeHeader('Content-Type', 'application/json').end(r.body, true);
        return;
      }
      const conn: Conn = { model: engine.options.name, engine, inFlight: 0, parked: [], closed: false };
      res.upgrade(conn, key, protocol, extensions, context as Parameters<HttpResponse['upgrade']>[4]);
    },
    open: (ws: WebSocket<Conn>) => {
      sockets.add(ws);
      metrics.wsConnections.inc();
    },
    message: onMessage,
    drain: releaseParked,
    close: (ws: WebSocket<Conn>) => {
      const c = ws.getUserData();
      c.closed = true;
      // Parked requests never started: release their in-flight accounting.
      for (let i = 0; i < c.parked.length; i++) {
        c.inFlight--;
        end('ws');
      }
      c.parked.length = 0;
      sockets.delete(ws);
      metrics.wsConnections.dec();
    },
  });
  app.ws<Conn>('/v2/models/:model/infer/stream', wsBehavior(false));
  app.ws<Conn>('/v2/models/:model/versions/:version/infer/stream', wsBehavior(true));

  // ---------------------------------------------------------------- fallbacks
  app.any('/*', (res, req) => {
    const url = req.getUrl();
    const method = req.getMethod();
    const known =
      /^\/v2(\/health\/(live|ready))?$/.test(url) ||
      /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?(\/ready|\/infer)?$/.test(url) ||
      url === '/v2/repository/index' ||
      url === '/metrics';
    const r = known
      ? { status: 405, body: errorBody(`method ${method.toUpperCase()} not allowed on ${url}`) }
      : { status: 404, body: errorBody(`no route for ${method.toUpperCase()} ${url}`) };
    // Close: a body we did not read must not be parsed as the next request.
    send(res, { done: false }, r, method !== 'get' && method !== 'head');
  });

  const host = options.host ?? '127.0.0.1';
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, options.port ?? 0, (ls) => {
      if (ls) resolve(ls);
      else reject(new ParmError('PARM_ERR_SERVER_CONFIG', `cannot listen on ${host}:${options.port ?? 0} (address in use or not available)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
  log.info({ host, port, models: [...engines.keys()] }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      uws.us_listen_socket_close(listenSocket);
      log.info({ inFlight }, 'shutting down: answering requests in flight');
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, limits.drainTimeoutMs);
          onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      for (const ws of [...sockets]) {
        const c = ws.getUserData();
        if (!c.closed) {
          c.closed = true;
          ws.end(1001, 'server shutting down');
        }
      }
      // Let the last answers and close frames reach the kernel before dropping every socket.
      await new Promise((r) => setTimeout(r, 50));
      // App.close() exists in this uWS build (forcefully closes every socket) but not in its typings.
      (app as TemplatedApp & { close(): void }).close();
      if (options.closeEngines ?? true) await Promise.all([...engines.values()].map((e) => e.close()));
      log.info('closed');
    })();
    return closing;
  };

  return { host, port, url: `http://${host}:${port}`, metrics, limits, close };
}

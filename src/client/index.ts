// `parm/client`: a small typed Node client for the parm server. ParmClient speaks the WebSocket
// stream (one promise per request, pipelined, binary or JSON framing, reconnect); inferHttp is the
// same call over OIP HTTP. Framing and parameters follow docs/protocol.md; the messages and their
// byte layouts are the wire module's (src/wire/), the same the server reads.
import WebSocket from 'ws';
import {
  encodeFrame,
  encodeHttpBody,
  fp32Bytes,
  fp32Input,
  isReconstructed,
  parseJsonBytes,
  readHttpBody,
  readMessage,
  readOutputTensor,
  type ErrorResponse,
  type InferRequest,
  type InferRequestParameters,
  type InferResponse,
  type RequestId,
} from '../wire/index.js';

export type DecodeOption = { kind: 'first' } | { kind: 'deadline'; waitMs: number };

export interface InferCallOptions {
  /** Tensor shape including the batch dimension; default [n, 1, 28, 28] with n = data.length / 784. */
  shape?: readonly number[];
  /** Decode policy sent as parm_decode / parm_deadline_ms. */
  decode?: DecodeOption;
  /** Server-side timeout (parm_timeout_ms). */
  serverTimeoutMs?: number;
  /** Client-side: reject if no answer within this many ms (default: the client's requestTimeoutMs). */
  timeoutMs?: number;
}

export interface InferAnswer {
  id: string | number | undefined;
  output: Float32Array;
  shape: number[];
  /** The server's `parm_reconstructed` response parameter. */
  reconstructed: boolean;
  instance: string | undefined;
  /** Engine-measured latency in ms (parm_latency_ms). */
  latencyMs: number | undefined;
  modelName: string;
  modelVersion: string;
}

/** An error answer from the server (`{"id", "error"}` on the stream, an OIP error body over HTTP). */
export class ParmRequestError extends Error {
  constructor(
    message: string,
    readonly id: string | number | null | undefined,
    /** HTTP status (HTTP only). */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ParmRequestError';
  }
}

/** The connection dropped or closed before the answer arrived. The request may or may not have run. */
export class ParmConnectionError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'ParmConnectionError';
  }
}

export interface ParmClientOptions {
  /** Server base URL: http://host:port or ws://host:port. */
  url: string;
  model: string;
  version?: string;
  /** Binary frames (4-byte LE header length + JSON + raw FP32) rather than JSON text (default true). */
  binary?: boolean;
  /** Reconnect after an unexpected close (default true), with exponential backoff. */
  reconnect?: boolean;
  reconnectMinDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Give up reconnecting after this many consecutive failures (default Infinity). */
  reconnectRetries?: number;
  /** Default client-side timeout per request in ms (default 30000; 0 = none). */
  requestTimeoutMs?: number;
  /**
   * Requests sent and not answered at once; more wait in the client (FIFO) for a free slot.
   * Default 64, the server's default per-connection limit (above it the server answers with errors).
   */
  maxInFlight?: number;
}

const DEFAULT_QUERY = 784;

function wsUrl(base: string, model: string, version: string | undefined): string {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  const v = version === undefined ? '' : `/versions/${encodeURIComponent(version)}`;
  u.pathname = `${u.pathname.replace(/\/$/, '')}/v2/models/${encodeURIComponent(model)}${v}/infer/stream`;
  return u.toString();
}

function defaultShape(data: Float32Array, shape: readonly number[] | undefined): number[] {
  if (shape) return [...shape];
  if (data.length % DEFAULT_QUERY !== 0 || data.length === 0) {
    throw new RangeError(`data has ${data.length} floats; pass shape, or a multiple of ${DEFAULT_QUERY} (one 1x28x28 image each)`);
  }
  return [data.length / DEFAULT_QUERY, 1, 28, 28];
}

function requestHeader(id: RequestId | undefined, data: Float32Array, opts: InferCallOptions, binary: boolean): InferRequest {
  const shape = defaultShape(data, opts.shape);
  const parameters: InferRequestParameters = {};
  if (opts.decode?.kind === 'first') parameters.parm_decode = 'first';
  if (opts.decode?.kind === 'deadline') {
    parameters.parm_decode = 'deadline';
    parameters.parm_deadline_ms = opts.decode.waitMs;
  }
  if (opts.serverTimeoutMs !== undefined) parameters.parm_timeout_ms = opts.serverTimeoutMs;
  const h: InferRequest = { ...(id !== undefined ? { id } : {}), inputs: [fp32Input('input', shape, data, binary)] };
  if (Object.keys(parameters).length > 0) h.parameters = parameters;
  return h;
}

/** A response header as received: an answer, or an error answer. */
type ResponseHeader = Partial<InferResponse> & Partial<ErrorResponse>;

/** Turns a response header (+ the tensor bytes after it) into an answer. */
function toAnswer(h: ResponseHeader, tensors: Uint8Array): InferAnswer {
  const read = readOutputTensor(h, tensors);
  if (!read) throw new ParmRequestError('response has no outputs', h.id);
  const p = h.parameters;
  return {
    id: h.id ?? undefined,
    output: read.data,
    shape: read.output.shape,
    reconstructed: isReconstructed(h),
    instance: typeof p?.parm_instance === 'string' ? p.parm_instance : undefined,
    latencyMs: typeof p?.parm_latency_ms === 'number' ? p.parm_latency_ms : undefined,
    modelName: h.model_name ?? '',
    modelVersion: h.model_version ?? '',
  };
}

interface Pending {
  /** The connection the request was sent on: only its close fails the request. */
  ws: WebSocket;
  resolve: (a: InferAnswer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A pipelined WebSocket client. `infer` returns one promise per request; answers may arrive out of
 * order and are matched by id. When the connection drops, requests in flight reject with
 * ParmConnectionError (they are not resent: the server may have run them) and the client
 * reconnects with backoff; calls made while reconnecting wait for the new connection.
 */
export class ParmClient {
  private ws: WebSocket | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private closedByUser = false;
  private connecting: Promise<void> | undefined;
  private failures = 0;
  private readonly slotWaiters: Array<() => void> = [];
  private active = 0;
  readonly url: string;
  /** Times the client has reconnected after an unexpected close. */
  reconnects = 0;

  private constructor(private readonly opts: ParmClientOptions) {
    this.url = wsUrl(opts.url, opts.model, opts.version);
  }

  /** Connects (rejects if the first connection fails). */
  static async connect(opts: ParmClientOptions): Promise<ParmClient> {
    const c = new ParmClient(opts);
    await c.open();
    return c;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private open(): Promise<void> {
    this.connecting ??= new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false });
      ws.binaryType = 'nodebuffer';
      let opened = false;
      ws.once('open', () => {
        opened = true;
        this.ws = ws;
        this.failures = 0;
        this.connecting = undefined;
        resolve();
      });
      ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
      ws.on('error', () => {
        /* surfaced through 'close' */
      });
      ws.once('close', (code, reason) => {
        const current = this.ws === ws;
        if (current) this.ws = undefined;
        if (opened) {
          this.failAll(ws, new ParmConnectionError(`connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`, code));
        } else {
          this.connecting = undefined;
          reject(new ParmConnectionError(`cannot connect to ${this.url} (${code})`, code));
        }
        const retry = this.opts.reconnect ?? true;
        if (!this.closedByUser && retry && ((opened && current) || (!opened && this.failures > 0))) this.scheduleReconnect();
      });
    });
    return this.connecting;
  }

  private scheduleReconnect(): void {
    const retries = this.opts.reconnectRetries ?? Infinity;
    if (this.failures >= retries) return;
    const min = this.opts.reconnectMinDelayMs ?? 100;
    const max = this.opts.reconnectMaxDelayMs ?? 5000;
    const delay = Math.min(max, min * 2 ** this.failures);
    this.failures++;
    const p = new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        this.connecting = undefined;
        if (this.closedByUser) return reject(new ParmConnectionError('client closed'));
        this.open().then(
          () => {
            this.reconnects++;
            resolve();
          },
          reject,
        );
      }, delay).unref();
    });
    p.catch(() => {
      /* the close handler of the failed attempt schedules the next one */
    });
    this.connecting = p;
  }

  /** Takes one of maxInFlight slots (synchronously when free, else in FIFO order). */
  private slot(): Promise<void> | undefined {
    if (this.active < (this.opts.maxInFlight ?? 64)) {
      this.active++;
      return undefined;
    }
    return new Promise<void>((r) => this.slotWaiters.push(r));
  }

  /** Gives a slot back: to the next waiter if there is one. */
  private freed(): void {
    const next = this.slotWaiters.shift();
    if (next) next();
    else this.active--;
  }

  private failAll(ws: WebSocket, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.ws !== ws) continue;
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
      this.freed();
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    let header: ResponseHeader;
    let tensors: Uint8Array;
    try {
      const m = readMessage(data, isBinary);
      if (typeof m.header !== 'object' || m.header === null) return;
      header = m.header as ResponseHeader;
      tensors = m.tensors;
    } catch {
      return;
    }
    const key = header.id === undefined || header.id === null ? undefined : String(header.id);
    const p = key === undefined ? undefined : this.pending.get(key);
    if (!p || key === undefined) return;
    this.pending.delete(key);
    this.freed();
    if (p.timer) clearTimeout(p.timer);
    if (typeof header.error === 'string') p.reject(new ParmRequestError(header.error, header.id));
    else {
      try {
        p.resolve(toAnswer(header, tensors));
      } catch (err) {
        p.reject(err as Error);
      }
    }
  }

  /** Sends one request; resolves with its answer. `data` is row-major FP32, batch dimension first. */
  async infer(data: Float32Array, opts: InferCallOptions = {}): Promise<InferAnswer> {
    if (this.closedByUser) throw new ParmConnectionError('client closed');
    // Build the request first: a bad argument throws before a slot is taken.
    const id = String(this.nextId++);
    const binary = this.opts.binary ?? true;
    const header = requestHeader(id, data, opts, binary);
    await this.slot();
    try {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) await (this.connecting ?? this.open());
    } catch (err) {
      this.freed();
      throw err;
    }
    const ws = this.ws;
    if (!ws) {
      this.freed();
      throw new ParmConnectionError('not connected');
    }
    const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 30_000;
    return new Promise<InferAnswer>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              this.freed();
              reject(new ParmConnectionError(`no answer to request ${id} within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      this.pending.set(id, { ws, resolve, reject, timer });
      if (binary) ws.send(encodeFrame(JSON.stringify(header), [fp32Bytes(data)]), { binary: true });
      else ws.send(JSON.stringify(header), { binary: false });
    });
  }

  /** Closes the connection; requests in flight reject. */
  async close(): Promise<void> {
    this.closedByUser = true;
    const ws = this.ws;
    this.ws = undefined;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'client closing');
    });
  }
}

/** One inference over OIP HTTP (binary extension when `binary`, default true). */
export async function inferHttp(
  baseUrl: string,
  model: string,
  data: Float32Array,
  opts: InferCallOptions & { binary?: boolean; version?: string; id?: string } = {},
): Promise<InferAnswer> {
  const binary = opts.binary ?? true;
  const header = requestHeader(opts.id, data, opts, binary);
  if (binary) header.parameters = { ...header.parameters, binary_data_output: true };
  const v = opts.version === undefined ? '' : `/versions/${encodeURIComponent(opts.version)}`;
  const url = `${baseUrl.replace(/\/$/, '')}/v2/models/${encodeURIComponent(model)}${v}/infer`;
  const { body, headerLength } = encodeHttpBody(JSON.stringify(header), binary ? [fp32Bytes(data)] : []);
  const init: RequestInit = binary
    ? { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) }, body }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body };
  if (opts.timeoutMs) init.signal = AbortSignal.timeout(opts.timeoutMs);
  const res = await fetch(url, init);
  const answer = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = (parseJsonBytes(answer, 'error body') as { error?: string }).error ?? msg;
    } catch {
      /* keep the status text */
    }
    throw new ParmRequestError(msg, opts.id, res.status);
  }
  const { header: h, tensors } = readHttpBody(answer, res.headers.get('inference-header-content-length'), 'response body');
  return toAnswer(h as ResponseHeader, tensors);
}

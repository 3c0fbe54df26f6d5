// Stand-ins for the few uWebSockets.js objects the server's handlers touch (an HTTP request and
// response, a WebSocket), recording what the handlers write, so the unit tier can drive the HTTP
// and stream fronts without a socket. They follow uWS's rules where the handlers depend on them:
// request data only during the handler call, a response written once, user data on the socket.
import type { HttpRequest, HttpResponse, WebSocket } from '../../src/server/uws.js';

const text = new TextDecoder();

function bytesOf(v: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof v === 'string') return new TextEncoder().encode(v);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

/** An HTTP request: route parameters and lower-case headers ('' when absent, as uWS answers). */
export function fakeRequest(params: string[], headers: Record<string, string> = {}, method = 'post', url = '/'): HttpRequest {
  return {
    getParameter: (i: number) => params[i],
    getHeader: (name: string) => headers[name] ?? '',
    getMethod: () => method,
    getUrl: () => url,
  } as unknown as HttpRequest;
}

/** An HTTP response that records the reply, and lets the test feed body chunks or abort. */
export class FakeResponse {
  status: string | undefined;
  headers: Record<string, string> = {};
  body: Uint8Array | undefined;
  closedConnection = false;
  ends = 0;
  private onDataHandler: ((chunk: ArrayBuffer, isLast: boolean) => void) | undefined;
  private onAbortedHandler: (() => void) | undefined;

  get res(): HttpResponse {
    return this as unknown as HttpResponse;
  }

  get json(): unknown {
    return JSON.parse(text.decode(this.body));
  }

  onData(h: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.onDataHandler = h;
    return this;
  }

  onAborted(h: () => void): this {
    this.onAbortedHandler = h;
    return this;
  }

  cork(fn: () => void): this {
    fn();
    return this;
  }

  writeStatus(s: string): this {
    this.status = s;
    return this;
  }

  writeHeader(k: string, v: string): this {
    this.headers[k] = v;
    return this;
  }

  end(body: string | Uint8Array = '', closeConnection = false): this {
    this.ends++;
    this.body = bytesOf(body);
    this.closedConnection = closeConnection;
    return this;
  }

  /** Delivers the body in chunks, as uWS would (each chunk's memory is reused afterwards: poisoned here). */
  feed(body: Uint8Array, chunkBytes = body.length || 1): void {
    if (!this.onDataHandler) throw new Error('the handler did not ask for the body');
    if (body.length === 0) this.onDataHandler(new ArrayBuffer(0), true);
    for (let off = 0; off < body.length; off += chunkBytes) {
      const chunk = body.slice(off, off + chunkBytes);
      this.onDataHandler(chunk.buffer, off + chunkBytes >= body.length);
      chunk.fill(0xee);
    }
  }

  abort(): void {
    this.onAbortedHandler?.();
  }

  /** A streamed response: what write() was given, in order. */
  written: string[] = [];
  /** What write() answers: false reports backpressure (uWS keeps the bytes and calls onWritable later). */
  writeAccepts = true;
  private onWritableHandler: ((offset: number) => boolean) | undefined;

  write(chunk: string | Uint8Array): boolean {
    this.written.push(text.decode(bytesOf(chunk)));
    return this.writeAccepts;
  }

  onWritable(h: (offset: number) => boolean): this {
    this.onWritableHandler = h;
    return this;
  }

  /** The client read what was buffered: uWS calls the onWritable handler. */
  drain(): void {
    this.writeAccepts = true;
    this.onWritableHandler?.(0);
  }
}

export interface SentMessage {
  binary: boolean;
  bytes: Uint8Array;
}

/** A WebSocket with its user data, a settable send backlog, and a record of sends and the close. */
export class FakeSocket<T> {
  readonly sent: SentMessage[] = [];
  ended: { code: number; reason: string } | undefined;
  /** What getBufferedAmount() answers: bytes the client has not read yet. */
  buffered = 0;

  constructor(private readonly data: T) {}

  get ws(): WebSocket<T> {
    return this as unknown as WebSocket<T>;
  }

  getUserData(): T {
    return this.data;
  }

  getBufferedAmount(): number {
    return this.buffered;
  }

  cork(fn: () => void): this {
    fn();
    return this;
  }

  send(message: string | Uint8Array, isBinary = false): number {
    if (this.ended) throw new Error('send after end');
    this.sent.push({ binary: isBinary, bytes: bytesOf(message) });
    return 1;
  }

  end(code: number, reason: string | Uint8Array = ''): void {
    if (this.ended) throw new Error('ended twice');
    this.ended = { code, reason: typeof reason === 'string' ? reason : text.decode(reason) };
  }
}

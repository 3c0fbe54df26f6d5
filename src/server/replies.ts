// How the server answers: HTTP status lines, the one mapping from an error to the status and
// message a client sees (codes and statuses from src/errors.ts; the stream sends the same
// message), and an HTTP exchange whose reply is written at most once.
import { ParmError, httpStatusOf } from '../errors.js';
import { errorResponse } from '../wire/index.js';
import type { HttpResponse } from './uws.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Error`;
}

export interface Reply {
  status: number;
  body: string | Uint8Array;
  /** Default application/json. */
  contentType?: string;
  headers?: Record<string, string>;
}

export interface DescribedError {
  status: number;
  message: string;
  /** Not a ParmError and mapped to 5xx: a bug or an environment failure, worth a log line. */
  unexpected: boolean;
}

/** The status and client-facing message of an error: a ParmError's own; anything else is "internal error: ..." (500). */
export function describeError(err: unknown): DescribedError {
  const status = httpStatusOf(err);
  const known = err instanceof ParmError;
  const text = err instanceof Error ? err.message : String(err);
  return { status, message: status === 500 && !known ? `internal error: ${text}` : text, unexpected: status >= 500 && !known };
}

export function jsonReply(status: number, value: unknown): Reply {
  return { status, body: JSON.stringify(value) };
}

export function errorReply(status: number, message: string): Reply {
  return { status, body: errorResponse(message) };
}

/**
 * One HTTP request's answer. uWS forbids touching a response after it was aborted or ended, so
 * `send` writes at most once and drops the reply when the client has gone.
 */
export class HttpExchange {
  /** Set by the first send, or when uWS reports the client gone (after watchAborted). */
  private done = false;

  constructor(
    private readonly res: HttpResponse,
    /** Whether the server is draining: every reply then closes its connection. */
    private readonly draining: () => boolean,
  ) {}

  /** Needed before answering asynchronously: uWS reports an aborted request only to this handler. */
  watchAborted(): this {
    this.res.onAborted(() => {
      this.done = true;
    });
    return this;
  }

  get answered(): boolean {
    return this.done;
  }

  send(r: Reply, closeConnection = false): void {
    if (this.done) return;
    this.done = true;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(r.status));
      this.res.writeHeader('Content-Type', r.contentType ?? 'application/json');
      for (const [k, v] of Object.entries(r.headers ?? {})) this.res.writeHeader(k, v);
      this.res.end(r.body, closeConnection || this.draining());
    });
  }
}

// How the server answers: HTTP status lines, the one mapping from an error to the status and
// message a client sees (codes and statuses from src/errors.ts; the stream sends the same
// message), and an HTTP exchange whose reply is written at most once.
import { ParmError, httpStatusOf } from '../errors.js';
import { errorResponse } from '../wire/index.js';
import type { HttpResponse } from './uws.js';

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  204: '204 No Content',
  400: '400 Bad Request',
  401: '401 Unauthorized',
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

/** What one request's reply must honour, recorded by the front door (http-front.ts) before its route runs. */
export interface ReplyRules {
  /** A HEAD request: the reply carries the status and headers of the GET answer, and no body. */
  readonly head: boolean;
  /** Headers every reply to this request carries (CORS). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Keyed by the uWS response object, which lives exactly as long as its request. */
const replyRules = new WeakMap<HttpResponse, ReplyRules>();

export function setReplyRules(res: HttpResponse, rules: ReplyRules): void {
  replyRules.set(res, rules);
}

function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

/**
 * One HTTP request's answer. uWS forbids touching a response after it was aborted or ended, so
 * `send` writes at most once and drops the reply when the client has gone. A reply to HEAD (as
 * the front door recorded it in its ReplyRules) carries the status, headers and Content-Length, never the body.
 */
export class HttpExchange {
  /** Set by the first send, or when uWS reports the client gone (after watchAborted). */
  private done = false;
  /** uWS reported the client gone before a reply was written. */
  private gone = false;

  constructor(
    private readonly res: HttpResponse,
    /** Whether the server is draining: every reply then closes its connection. */
    private readonly draining: () => boolean,
  ) {}

  /** Needed before answering asynchronously: uWS reports an aborted request only to this handler. */
  watchAborted(): this {
    this.res.onAborted(() => {
      this.gone = !this.done;
      this.done = true;
    });
    return this;
  }

  /** A reply was written, or the client is gone: nothing more may be sent. */
  get answered(): boolean {
    return this.done;
  }

  /** The client hung up before any reply was written. */
  get aborted(): boolean {
    return this.gone;
  }

  /** Writes the reply; false when nothing was written (already answered, or the client is gone). */
  send(r: Reply, closeConnection = false): boolean {
    if (this.done) return false;
    this.done = true;
    // A response built outside the front door (unit tests) has no rules: a plain reply.
    const rules = replyRules.get(this.res);
    const head = rules?.head ?? false;
    const close = closeConnection || this.draining();
    this.res.cork(() => {
      this.res.writeStatus(statusLine(r.status));
      for (const [k, v] of Object.entries(r.headers ?? {})) this.res.writeHeader(k, v);
      for (const [k, v] of Object.entries(rules?.headers ?? {})) this.res.writeHeader(k, v);
      if (r.status === 204) {
        // No content: neither a Content-Type nor a Content-Length (RFC 9110 §8.6).
        this.res.endWithoutBody();
        return;
      }
      this.res.writeHeader('Content-Type', r.contentType ?? 'application/json');
      if (head) {
        // This uWS build completes a body-less end only without arguments, so it writes neither a
        // Content-Length (we write the GET answer's) nor a close (the header asks the client to).
        this.res.writeHeader('Content-Length', String(byteLength(r.body)));
        if (close) this.res.writeHeader('Connection', 'close');
        this.res.endWithoutBody();
      } else {
        this.res.end(r.body, close);
      }
    });
    return true;
  }
}

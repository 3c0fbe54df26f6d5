// Reading an HTTP request body from uWS, bounded by maxBodyBytes: checked against Content-Length
// before the first byte is read, and again while reading (a body without Content-Length, or one
// longer than it says). contentLengthRefusal is the one reading of a Content-Length value.
import { errorReply, type HttpExchange } from './replies.js';
import type { HttpRequest, HttpResponse } from './uws.js';

/** uWebSockets.js reads a Content-Length of 1 to this many digits; for anything else it drops the connection. */
export const UWS_CONTENT_LENGTH_DIGITS = 9;

/** What is wrong with a Content-Length value against the body limit, as a status and message; undefined if nothing. */
export interface ContentLengthRefusal {
  status: 400 | 413;
  message: string;
  /** uWS drops the connection after the route handler returns: the reply must reach the socket first. */
  dropped: boolean;
}

export function contentLengthRefusal(declared: string, maxBytes: number): ContentLengthRefusal | undefined {
  if (declared === '') return undefined;
  if (!/^\d+$/.test(declared)) return { status: 400, message: `invalid Content-Length '${declared}'`, dropped: true };
  const dropped = declared.length > UWS_CONTENT_LENGTH_DIGITS;
  const n = Number(declared);
  if (n > maxBytes) return { status: 413, message: `request body of ${declared.replace(/^0+(?=\d)/, '')} bytes exceeds the limit of ${maxBytes} bytes`, dropped };
  if (dropped) return { status: 400, message: `Content-Length '${declared}' has more than ${UWS_CONTENT_LENGTH_DIGITS} digits`, dropped };
  return undefined;
}

/**
 * Reads the body of `req` into one buffer and calls `onBody` once with it; or answers 400/413
 * itself, closing the connection (the rest of the body must not be parsed as a request), after
 * telling `onRefused` the status. Must be called synchronously in the route handler (uWS rule).
 */
export function readBody(
  res: HttpResponse,
  req: HttpRequest,
  exchange: HttpExchange,
  maxBytes: number,
  onBody: (body: Uint8Array) => void,
  onRefused: (status: number) => void = () => {},
): void {
  const refuse = (status: number, message: string) => {
    if (!exchange.answered) onRefused(status);
    exchange.send(errorReply(status, message), true);
  };
  const declared = req.getHeader('content-length');
  const refusal = contentLengthRefusal(declared, maxBytes);
  if (refusal) {
    refuse(refusal.status, refusal.message);
    return;
  }
  if (declared !== '') {
    const n = Number(declared);
    const buf = new Uint8Array(n);
    let off = 0;
    res.onData((chunk, isLast) => {
      if (exchange.answered) return;
      const c = new Uint8Array(chunk);
      if (off + c.length > n) {
        refuse(400, 'body longer than Content-Length');
        return;
      }
      buf.set(c, off);
      off += c.length;
      if (isLast) onBody(buf.subarray(0, off));
    });
    return;
  }
  // uWS reuses a chunk's memory after onData returns: copy each one.
  const parts: Uint8Array[] = [];
  let total = 0;
  res.onData((chunk, isLast) => {
    if (exchange.answered) return;
    total += chunk.byteLength;
    if (total > maxBytes) {
      refuse(413, `request body of ${total} bytes exceeds the limit of ${maxBytes} bytes`);
      return;
    }
    parts.push(new Uint8Array(chunk).slice());
    if (!isLast) return;
    const body = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      body.set(p, off);
      off += p.length;
    }
    onBody(body);
  });
}

// Reading an HTTP request body from uWS, bounded by maxBodyBytes: checked against Content-Length
// before the first byte is read, and again while reading (a body without Content-Length, or one
// longer than it says).
import { errorReply, type HttpExchange } from './replies.js';
import type { HttpRequest, HttpResponse } from './uws.js';

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
  const tooLarge = (n: number) => refuse(413, `request body of ${n} bytes exceeds the limit of ${maxBytes} bytes`);
  const declared = req.getHeader('content-length');
  if (declared !== '') {
    const n = Number(declared);
    if (!Number.isSafeInteger(n) || n < 0) {
      refuse(400, `invalid Content-Length '${declared}'`);
      return;
    }
    if (n > maxBytes) {
      tooLarge(n);
      return;
    }
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
      tooLarge(total);
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

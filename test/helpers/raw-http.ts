// Raw TCP exchanges with a server, for the HTTP/1.x edge cases an HTTP client library will not
// send (duplicate headers, bad versions, huge Content-Length): write bytes, collect what arrives
// until the server closes, a condition holds, or a generous timeout passes.
import net from 'node:net';

export interface RawExchange {
  /** Everything received, as latin1 text. */
  text: string;
  /** The server closed the connection (FIN or reset) before the exchange ended. */
  closed: boolean;
  /** Neither a close nor `until` happened within the timeout. */
  timedOut: boolean;
}

/** Status codes of the response status lines in `text`, in order. */
export function statusCodes(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/**
 * Connects to 127.0.0.1:`port`, writes `request`, and resolves when the server closes, when
 * `until(text)` holds (then the socket is destroyed), or after `timeoutMs`.
 */
export function rawHttp(port: number, request: string | Buffer, opts: { until?: (text: string) => boolean; timeoutMs?: number } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed, timedOut });
    };
    const timer = setTimeout(() => finish(false, true), opts.timeoutMs ?? 10_000);
    socket.on('data', (b) => {
      text += b.toString('latin1');
      if (opts.until?.(text)) finish(false, false);
    });
    socket.on('close', () => finish(true, false));
    socket.on('error', () => {
      /* a reset shows as close */
    });
    socket.write(request);
  });
}

/** `count` complete responses (status line, headers, Content-Length body) are in `text`. */
export function hasResponses(count: number): (text: string) => boolean {
  return (text) => {
    let rest = text;
    for (let i = 0; i < count; i++) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const m = /\r\ncontent-length: *(\d+)/i.exec(rest.slice(0, end));
      const length = m ? Number(m[1]) : 0;
      if (rest.length < end + 4 + length) return false;
      rest = rest.slice(end + 4 + length);
    }
    return true;
  };
}

// The dashboard feed's transport: Server-Sent Events (text/event-stream) on uWebSockets.js, one
// JSON snapshot per event. A client that does not read is skipped (a later snapshot supersedes
// the ones it missed) and dropped after `maxBlockedMs`, so a stalled browser costs one buffer.
import type { HttpResponse } from '../server/uws.js';

/** What the EventSource should wait before reconnecting after the stream ends (ms). */
export const SSE_RETRY_MS = 2000;

interface Subscriber {
  res: HttpResponse;
  /** When a write last left bytes unsent (backpressure), until uWS reports the socket writable. */
  blockedSince: number | null;
}

/** One SSE event: `id` and a single `data` line (JSON.stringify never emits a raw newline). */
export function sseEvent(id: number, json: string): string {
  return `id: ${id}\ndata: ${json}\n\n`;
}

export class SseFeed {
  private readonly subscribers = new Set<Subscriber>();

  constructor(
    private readonly maxBlockedMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Turns an HTTP response into an event stream and writes `first` (an already framed event) at
   * once. Call from the route handler, synchronously.
   */
  open(res: HttpResponse, first: string): void {
    const s: Subscriber = { res, blockedSince: null };
    res.onAborted(() => this.subscribers.delete(s));
    this.subscribers.add(s);
    res.cork(() => {
      res.writeStatus('200 OK');
      res.writeHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.writeHeader('Cache-Control', 'no-cache');
      this.write(s, `retry: ${SSE_RETRY_MS}\n\n${first}`);
    });
  }

  /** Sends one framed event to every subscriber that is keeping up. */
  broadcast(event: string): void {
    const now = this.now();
    for (const s of this.subscribers) {
      if (s.blockedSince !== null) {
        if (now - s.blockedSince > this.maxBlockedMs) this.end(s);
        continue;
      }
      s.res.cork(() => this.write(s, event));
    }
  }

  /** Ends every stream (server shutdown). */
  closeAll(): void {
    for (const s of [...this.subscribers]) this.end(s);
  }

  private write(s: Subscriber, chunk: string): void {
    if (s.res.write(chunk)) return;
    s.blockedSince = this.now();
    s.res.onWritable(() => {
      s.blockedSince = null;
      return true;
    });
  }

  private end(s: Subscriber): void {
    this.subscribers.delete(s);
    s.res.cork(() => s.res.end());
  }
}

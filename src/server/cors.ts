// Cross-origin access for browser pages (the Fetch standard's CORS protocol): which origins may
// call the HTTP API (`parm serve --cors`), the headers an answer to them carries, and the answer
// to a preflight (OPTIONS, on every path, without a token: browsers never send one there).
import { ParmError } from '../errors.js';
import type { ServerContext } from './context.js';
import { HttpExchange, errorReply, type Reply } from './replies.js';
import type { TemplatedApp } from './uws.js';

/** How long a browser may cache a preflight's answer (Chromium caps it at 2 h). */
export const CORS_MAX_AGE_S = 600;
const ALLOW_METHODS = 'GET, HEAD, POST, OPTIONS';
/** The request headers an OIP client sends beyond the CORS-safelisted ones. */
const ALLOW_HEADERS = 'Authorization, Content-Type, Inference-Header-Content-Length';
/** Response headers a page may read beyond the safelisted ones: where a binary answer's JSON ends. */
const EXPOSE_HEADERS = 'Inference-Header-Content-Length';

/** `*`, or an origin exactly as a browser sends it (`scheme://host[:port]`, no path). */
export function parseCorsOrigin(v: string): string {
  if (v === '*') return v;
  let origin: string | undefined;
  try {
    origin = new URL(v).origin;
  } catch {
    origin = undefined;
  }
  if (origin === undefined || origin === 'null' || origin !== v) {
    throw new ParmError('PARM_ERR_SERVER_CONFIG', `--cors '${v}': expected '*' or an origin such as https://host[:port] (scheme, host, optional port, nothing after)`);
  }
  return origin;
}

export class CorsPolicy {
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    const parsed = origins.map(parseCorsOrigin);
    this.anyOrigin = parsed.includes('*');
    this.origins = new Set(parsed);
  }

  allows(origin: string): boolean {
    return this.anyOrigin || this.origins.has(origin);
  }

  /** Headers of any answer to a request with this Origin ('' when it sent none). */
  replyHeaders(origin: string): Record<string, string> {
    // The answer depends on the Origin: caches must key on it.
    if (origin === '' || !this.allows(origin)) return { Vary: 'Origin' };
    return { 'Access-Control-Allow-Origin': this.anyOrigin ? '*' : origin, 'Access-Control-Expose-Headers': EXPOSE_HEADERS, Vary: 'Origin' };
  }

  /** The answer to an OPTIONS request: 204 with what may be sent, or 403 for an origin not allowed. */
  preflight(origin: string): Reply {
    if (origin !== '' && !this.allows(origin)) return errorReply(403, `origin '${origin}' is not allowed (parm serve --cors)`);
    const headers: Record<string, string> = { Allow: ALLOW_METHODS };
    if (origin !== '') {
      headers['Access-Control-Allow-Methods'] = ALLOW_METHODS;
      headers['Access-Control-Allow-Headers'] = ALLOW_HEADERS;
      headers['Access-Control-Max-Age'] = String(CORS_MAX_AGE_S);
    }
    return { status: 204, body: '', headers };
  }
}

/** OPTIONS on every path, answered by the policy (the front door adds the Allow-Origin headers). */
export function registerPreflight(app: TemplatedApp, ctx: ServerContext, cors: CorsPolicy): void {
  app.options('/*', (res, req) => {
    new HttpExchange(res, () => ctx.draining).send(cors.preflight(req.getHeader('origin')));
  });
}

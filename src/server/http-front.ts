// The HTTP front door: what every HTTP request goes through before its route's handler, whichever
// module registered the route. guardRoutes() hands the route modules an app whose registrations
// wrap each handler; the wrapper reads the request's headers once, refuses framing that
// uWebSockets.js passes through (duplicate Content-Length) or drops the connection for without a
// word (a Content-Length it cannot read, a Transfer-Encoding it does not decode), and records what
// the reply must honour (a HEAD gets no body; CORS headers for an allowed origin: replies.ts
// ReplyRules); then, when a token is required, the bearer check (auth.ts) on every route but the
// health probes.
import { ParmError } from '../errors.js';
import { UNAUTHORIZED_MESSAGE, isPublicPath } from './auth.js';
import type { ServerContext } from './context.js';
import { contentLengthRefusal } from './http-body.js';
import { HttpExchange, errorReply, setReplyRules, type Reply } from './replies.js';
import { UWS_CORK_BUFFER_BYTES, type HttpRequest, type HttpResponse, type TemplatedApp, type WebSocketBehavior } from './uws.js';

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

/** The headers the front door reads, in one pass: uWS's getHeader sees only the first of a name. */
interface FrontHeaders {
  contentLength: string[];
  transferEncoding: string;
  /** undefined when absent. */
  authorization: string | undefined;
  origin: string;
}

function readHeaders(req: HttpRequest): FrontHeaders {
  const h: FrontHeaders = { contentLength: [], transferEncoding: '', authorization: undefined, origin: '' };
  req.forEach((k, v) => {
    if (k === 'content-length') h.contentLength.push(v);
    else if (k === 'transfer-encoding') h.transferEncoding = v;
    else if (k === 'authorization') h.authorization = v;
    else if (k === 'origin') h.origin = v;
  });
  return h;
}

/**
 * 401 with a WWW-Authenticate challenge (RFC 6750 §3: `error="invalid_token"` when a token was
 * sent). Closes the connection unless the method has no body to skip. The header is not logged.
 */
function refuseUnauthorized(ctx: ServerContext, res: HttpResponse, method: string, sent: boolean): void {
  const d = ctx.describe(new ParmError('PARM_ERR_SERVER_UNAUTHORIZED', UNAUTHORIZED_MESSAGE), '');
  const challenge = sent ? 'Bearer realm="parm", error="invalid_token"' : 'Bearer realm="parm"';
  const reply = { ...errorReply(d.status, d.message), headers: { 'WWW-Authenticate': challenge } };
  new HttpExchange(res, () => ctx.draining).send(reply, method !== 'get' && method !== 'head');
}

/** A request whose framing parm must refuse, and whether uWS will drop the connection once the handler returns. */
interface FramingProblem {
  reply: Reply;
  dropped: boolean;
}

/**
 * A request whose framing parm refuses (RFC 9112 §6.3: 400, then close), or undefined.
 * uWS frames a body by the first Content-Length (a proxy in front may take another one), decodes
 * only the chunked coding, and drops the connection for a Content-Length it cannot read.
 */
function framingProblem(ctx: ServerContext, h: FrontHeaders): FramingProblem | undefined {
  const te = h.transferEncoding;
  if (te !== '' && te.trim().toLowerCase() !== 'chunked') {
    return { reply: errorReply(400, `Transfer-Encoding '${te}' is not supported; send the body as is or chunked`), dropped: true };
  }
  const first = h.contentLength[0];
  const length = first === undefined ? undefined : contentLengthRefusal(first, ctx.limits.maxBodyBytes);
  if (length?.dropped) return { reply: errorReply(length.status, length.message), dropped: true };
  if (h.contentLength.length > 1) {
    const values = h.contentLength.map((v) => `'${v}'`).join(', ');
    return { reply: errorReply(400, `duplicate Content-Length headers (${values}): the body's length is ambiguous`), dropped: false };
  }
  return undefined;
}

/**
 * Refuses a request and closes its connection.
 *
 * When uWS is about to drop the connection (it does so as soon as the handler returns), the reply
 * is padded with trailing whitespace (still valid JSON) past uWS's cork buffer, so that it is
 * written to the socket now rather than lost with the buffer.
 *
 * Otherwise uWS parses whatever followed the request in the same read as soon as the handler
 * returns, and honours a close only once that is answered: a reply sent now would let a request
 * hidden in an ambiguous body be served. It is answered on the next turn instead: uWS, finding a
 * request pipelined behind an unanswered one, drops the connection without serving it, and with
 * nothing behind it the 400 goes out and the connection closes.
 */
function refuseFraming(ctx: ServerContext, res: HttpResponse, problem: FramingProblem): void {
  if (problem.dropped) {
    const { reply } = problem;
    new HttpExchange(res, () => ctx.draining).send({ ...reply, body: `${String(reply.body)}${' '.repeat(UWS_CORK_BUFFER_BYTES)}` }, true);
    return;
  }
  const exchange = new HttpExchange(res, () => ctx.draining).watchAborted();
  setImmediate(() => exchange.send(problem.reply, true));
}

/** Runs the front door; true when the route's handler may run, false when the request was answered here. */
function admitRequest(ctx: ServerContext, res: HttpResponse, req: HttpRequest): boolean {
  const method = req.getMethod();
  const h = readHeaders(req);
  setReplyRules(res, { head: method === 'head', headers: ctx.cors?.replyHeaders(h.origin) });
  const framing = framingProblem(ctx, h);
  if (framing) {
    refuseFraming(ctx, res, framing);
    return false;
  }
  // CORS preflights carry no credentials (browsers never send them there).
  if (ctx.authRequired && method !== 'options' && !isPublicPath(req.getUrl()) && !ctx.checkBearer(h.authorization)) {
    refuseUnauthorized(ctx, res, method, h.authorization !== undefined);
    return false;
  }
  return true;
}

function guard(ctx: ServerContext, handler: Handler): Handler {
  return (res, req) => {
    if (admitRequest(ctx, res, req)) return handler(res, req);
  };
}

/**
 * An app whose route registrations go through the front door: `get` also answers HEAD on the same
 * pattern (RFC 9110 §9.3.2), every other method as registered. Only registration is wrapped;
 * everything else is the app's own.
 */
export function guardRoutes(app: TemplatedApp, ctx: ServerContext): TemplatedApp {
  const wrapped: Partial<TemplatedApp> = {
    get(pattern, handler) {
      const h = guard(ctx, handler);
      app.get(pattern, h);
      app.head(pattern, h);
      return guarded;
    },
  };
  for (const method of ['post', 'put', 'del', 'patch', 'options', 'head', 'connect', 'trace', 'any'] as const) {
    wrapped[method] = (pattern, handler) => {
      app[method](pattern, guard(ctx, handler));
      return guarded;
    };
  }
  wrapped.ws = <T>(pattern: Parameters<TemplatedApp['ws']>[0], behavior: WebSocketBehavior<T>) => {
    app.ws<T>(pattern, behavior.upgrade ? { ...behavior, upgrade: guardUpgrade(ctx, behavior.upgrade) } : behavior);
    return guarded;
  };
  const guarded: TemplatedApp = new Proxy(app, {
    get(target, prop, receiver) {
      if (Object.hasOwn(wrapped, prop)) return wrapped[prop as keyof TemplatedApp];
      const v = Reflect.get(target, prop, receiver) as unknown;
      // Native methods need the native app as `this`.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return guarded;
}

type Upgrade = NonNullable<WebSocketBehavior<unknown>['upgrade']>;

function guardUpgrade(ctx: ServerContext, upgrade: Upgrade): Upgrade {
  return (res, req, context) => {
    if (admitRequest(ctx, res, req)) upgrade(res, req, context);
  };
}

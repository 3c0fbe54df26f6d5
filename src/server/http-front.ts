// The HTTP front door: what every HTTP request goes through before its route's handler, whichever
// module registered the route. guardRoutes() hands the route modules an app whose registrations
// wrap each handler; the wrapper reads the request's headers once and records what the reply must
// honour (a HEAD gets no body), which HttpExchange reads back with frontOf(res).
import type { ServerContext } from './context.js';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from './uws.js';

/** What one request's reply must honour; set by the front door before the route handler runs. */
export interface FrontInfo {
  /** A HEAD request: the reply carries the status and headers of the GET answer, and no body. */
  readonly head: boolean;
}

type Handler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;

/** Keyed by the uWS response object, which lives exactly as long as its request. */
const fronts = new WeakMap<HttpResponse, FrontInfo>();

/** The front door's record for a response; undefined for one built outside it (unit tests). */
export function frontOf(res: HttpResponse): FrontInfo | undefined {
  return fronts.get(res);
}

function guard(_ctx: ServerContext, handler: Handler): Handler {
  return (res, req) => {
    fronts.set(res, { head: req.getMethod() === 'head' });
    return handler(res, req);
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
    fronts.set(res, { head: false });
    upgrade(res, req, context);
  };
}

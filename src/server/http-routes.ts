// The HTTP routes other than inference: server metadata, health, model metadata and readiness,
// Prometheus metrics, the repository index, and the 404/405 fallback. Each answers from the
// server's state, without touching an engine's queue.
import { ParmError } from '../errors.js';
import { parseJsonBytes } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { readBody } from './http-body.js';
import { httpInfer } from './http-infer.js';
import { HttpExchange, errorReply, jsonReply, type Reply } from './replies.js';
import { modelMetadata, serverMetadata } from './server-metadata.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';

/** A route that answers from state (no body to read), synchronously or from a promise. */
export function fromState(ctx: ServerContext, handler: (req: HttpRequest) => Reply | Promise<Reply>) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const exchange = new HttpExchange(res, () => ctx.draining);
    const failed = (err: unknown): Reply => {
      const d = ctx.describe(err, '');
      return errorReply(d.status, d.message);
    };
    let out: Reply | Promise<Reply>;
    try {
      out = handler(req);
    } catch (err) {
      out = failed(err);
    }
    if (out instanceof Promise) {
      exchange.watchAborted();
      out.then(
        (r) => exchange.send(r),
        (err) => exchange.send(failed(err)),
      );
    } else {
      exchange.send(out);
    }
  };
}

/** OIP health answers: 200 for true, 400 for false, empty body. */
function health(ok: boolean): Reply {
  return { status: ok ? 200 : 400, body: '' };
}

export function modelParams(req: HttpRequest, versioned: boolean): [string, string | undefined] {
  return [req.getParameter(0) ?? '', versioned ? req.getParameter(1) : undefined];
}

function registerMetadata(app: TemplatedApp, ctx: ServerContext): void {
  const metadata = (versioned: boolean) =>
    fromState(ctx, (req) => {
      return jsonReply(200, modelMetadata(ctx.infoOf(ctx.lookup(...modelParams(req, versioned)))));
    });
  app.get('/v2/models/:model', metadata(false));
  app.get('/v2/models/:model/versions/:version', metadata(true));
  const modelReady = (versioned: boolean) => fromState(ctx, (req) => health(!ctx.draining && ctx.lookup(...modelParams(req, versioned)).isReady()));
  app.get('/v2/models/:model/ready', modelReady(false));
  app.get('/v2/models/:model/versions/:version/ready', modelReady(true));
}

/** POST /v2/repository/index: every deployment and its state; `{"ready": true}` lists only ready ones. */
function registerRepositoryIndex(app: TemplatedApp, ctx: ServerContext): void {
  app.post('/v2/repository/index', (res, req) => {
    const exchange = new HttpExchange(res, () => ctx.draining).watchAborted();
    readBody(res, req, exchange, ctx.limits.maxBodyBytes, (body) => {
      let readyOnly = false;
      try {
        if (body.length > 0) {
          const h = parseJsonBytes(body, 'request body');
          if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', 'the repository index request must be a JSON object');
          const r = (h as Record<string, unknown>).ready;
          if (r !== undefined && typeof r !== 'boolean') throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "'ready' must be a boolean");
          readyOnly = r === true;
        }
      } catch (err) {
        const d = ctx.describe(err, '');
        exchange.send(errorReply(d.status, d.message));
        return;
      }
      exchange.send(jsonReply(200, ctx.repository.index(readyOnly)));
    });
  });
}

/** Any other path or method: 405 on a known path, else 404. Registered after every other route. */
export function registerFallback(app: TemplatedApp, ctx: ServerContext): void {
  app.any('/*', (res, req) => {
    const url = req.getUrl();
    const method = req.getMethod();
    const known =
      /^\/v2(\/health\/(live|ready))?$/.test(url) ||
      /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?(\/ready|\/infer|\/stats)?$/.test(url) ||
      /^\/v2\/repository\/(index|models\/[^/]+\/(load|unload))$/.test(url) ||
      url === '/metrics';
    const r = known ? errorReply(405, `method ${method.toUpperCase()} not allowed on ${url}`) : errorReply(404, `no route for ${method.toUpperCase()} ${url}`);
    // Close: a body we did not read must not be parsed as the next request.
    new HttpExchange(res, () => ctx.draining).send(r, method !== 'get' && method !== 'head');
  });
}

/** Every HTTP route of the server, inference included, but not the fallback. */
export function registerHttpRoutes(app: TemplatedApp, ctx: ServerContext): void {
  app.get('/v2', fromState(ctx, () => jsonReply(200, serverMetadata())));
  app.get('/v2/health/live', fromState(ctx, () => health(!ctx.draining)));
  app.get('/v2/health/ready', fromState(ctx, () => health(ctx.ready())));
  registerMetadata(app, ctx);
  app.get('/metrics', fromState(ctx, async () => ({ status: 200, body: await ctx.metrics.text(), contentType: ctx.metrics.registry.contentType })));
  registerRepositoryIndex(app, ctx);
  app.post('/v2/models/:model/infer', httpInfer(ctx, false));
  app.post('/v2/models/:model/versions/:version/infer', httpInfer(ctx, true));
}

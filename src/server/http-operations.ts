// The operations routes over HTTP: Triton's statistics extension (GET .../stats) and the model
// repository's load and unload (POST /v2/repository/models/{m}/load | /unload). The repository
// index is with the other state routes (http-routes.ts).
import { ParmError } from '../errors.js';
import { parseJsonBytes } from '../wire/index.js';
import type { ServerContext } from './context.js';
import { readBody } from './http-body.js';
import { fromState, modelParams } from './http-routes.js';
import { HttpExchange, errorReply, jsonReply } from './replies.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from './uws.js';

/** A load or unload body: empty, or a JSON object whose `parameters` (if any) is an object; parm reads none of them. */
function checkRepositoryBody(body: Uint8Array): void {
  if (body.length === 0) return;
  const h = parseJsonBytes(body, 'request body');
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', 'the request body must be a JSON object');
  const p = (h as Record<string, unknown>).parameters;
  if (p !== undefined && (typeof p !== 'object' || p === null || Array.isArray(p))) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', "'parameters' must be an object");
}

/** Unload drains and stops the deployment's engine; load starts a fresh one and answers once it has loaded. */
function registerRepositoryControl(app: TemplatedApp, ctx: ServerContext): void {
  const control = (action: 'load' | 'unload') => (res: HttpResponse, req: HttpRequest) => {
    const exchange = new HttpExchange(res, () => ctx.draining).watchAborted();
    const model = req.getParameter(0) ?? '';
    readBody(res, req, exchange, ctx.limits.maxBodyBytes, (body) => {
      const failed = (err: unknown) => {
        const d = ctx.describe(err, model);
        exchange.send(errorReply(d.status, d.message));
      };
      let done: Promise<void>;
      try {
        checkRepositoryBody(body);
        done = ctx.control(model, action);
      } catch (err) {
        failed(err);
        return;
      }
      done.then(() => exchange.send(jsonReply(200, {})), failed);
    });
  };
  app.post('/v2/repository/models/:model/load', control('load'));
  app.post('/v2/repository/models/:model/unload', control('unload'));
}

function registerStatistics(app: TemplatedApp, ctx: ServerContext): void {
  const stats = (scope: 'all' | 'model' | 'version') =>
    fromState(ctx, (req) => {
      const [name, version] = scope === 'all' ? [undefined, undefined] : modelParams(req, scope === 'version');
      return jsonReply(200, { model_stats: ctx.statistics.report(ctx.repository.slots.values(), name, version) });
    });
  app.get('/v2/models/stats', stats('all'));
  app.get('/v2/models/:model/stats', stats('model'));
  app.get('/v2/models/:model/versions/:version/stats', stats('version'));
}

export function registerOperationRoutes(app: TemplatedApp, ctx: ServerContext): void {
  registerStatistics(app, ctx);
  registerRepositoryControl(app, ctx);
}

// The dashboard's HTTP routes: the page and its assets (all served by parm, nothing from a CDN),
// the live feed (Server-Sent Events, one snapshot per interval) and one-off snapshot, and the
// operator controls (faults, load), which answer 403 unless the server enables them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ParmError } from '../errors.js';
import type { FaultSpec } from '../engine/types.js';
import { isRecord, rejectUnknownKeys } from '../engine/validate.js';
import type { ServerContext } from '../server/context.js';
import { readBody } from '../server/http-body.js';
import { HttpExchange, errorReply, jsonReply, type Reply } from '../server/replies.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../server/uws.js';
import { packageRoot } from '../package-root.js';
import { parseJsonBytes } from '../wire/index.js';
import { SseFeed, sseEvent } from './feed.js';
import type { ImageSet } from './images.js';
import { LoadGenerator, parseLoadRequest } from './load.js';
import { DashboardSampler, type DashboardSnapshot } from './snapshot.js';

export interface DashboardOptions {
  /** Enable the fault and load controls (parm serve --dashboard-controls). Default false: 403. */
  controls?: boolean;
  /**
   * Called synchronously, before a control request's body is read; throws a ParmError to refuse
   * it. This is where the server's bearer-token check plugs in (src/server/auth.ts).
   */
  authorize?: (req: HttpRequest) => void;
  /** Snapshot interval (ms, default 1000). */
  intervalMs?: number;
  /** Latency percentile window (s, default 10). */
  windowSec?: number;
  /** Images for the built-in load (default: the Fashion-MNIST test set; gray images where it does not fit). */
  images?: () => Promise<ImageSet | undefined>;
}

export interface Dashboard {
  readonly sampler: DashboardSampler;
  /** Tells the dashboard where the server listens (the load connects there). */
  listening(host: string, port: number): void;
  /** Stops the ticker and the load, ends every feed stream. */
  close(): Promise<void>;
}

/** An address this host can connect to for a listen address (a wildcard means loopback). */
function loopbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** URL path -> file served, with its content type. */
function assetTable(): Map<string, { file: string; type: string }> {
  const page = join(packageRoot(), 'src', 'dashboard', 'page');
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  const html = { file: join(page, 'index.html'), type: 'text/html; charset=utf-8' };
  return new Map([
    ['/dashboard', html],
    ['/dashboard/', html],
    ['/dashboard/dashboard.js', { file: join(page, 'dashboard.js'), type: 'text/javascript; charset=utf-8' }],
    ['/dashboard/dashboard.css', { file: join(page, 'dashboard.css'), type: 'text/css; charset=utf-8' }],
    ['/dashboard/uplot.js', { file: join(uplot, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/dashboard/uplot.css', { file: join(uplot, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

/** A JSON control request: controls enabled, authorized, body parsed; `handle` answers it. */
function control(ctx: ServerContext, options: DashboardOptions, handle: (body: unknown) => Reply | Promise<Reply>) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const exchange = new HttpExchange(res, () => ctx.draining).watchAborted();
    const fail = (err: unknown, closeConnection = false) => {
      const d = ctx.describe(err, '');
      exchange.send(errorReply(d.status, d.message), closeConnection);
    };
    try {
      if (!options.controls) throw new ParmError('PARM_ERR_SERVER_FORBIDDEN', 'the dashboard controls are off; start parm serve with --dashboard-controls to enable them');
      options.authorize?.(req);
    } catch (err) {
      // Close: the unread body must not be parsed as the next request.
      fail(err, true);
      return;
    }
    readBody(res, req, exchange, ctx.limits.maxBodyBytes, (bytes) => {
      try {
        const out = handle(bytes.length === 0 ? undefined : parseJsonBytes(bytes, 'request body'));
        if (out instanceof Promise) out.then((r) => exchange.send(r), fail);
        else exchange.send(out);
      } catch (err) {
        fail(err);
      }
    });
  };
}

/** The deployment a control names, loaded. */
function loadedEngine(ctx: ServerContext, model: unknown) {
  if (typeof model !== 'string') throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `model: expected a deployment name (got ${JSON.stringify(model)})`);
  const engine = ctx.lookup(model, undefined);
  return { engine, info: ctx.infoOf(engine) };
}

/** Registers every /dashboard route and starts the once-per-interval sampler. */
export function registerDashboard(app: TemplatedApp, ctx: ServerContext, options: DashboardOptions = {}): Dashboard {
  const sampler = new DashboardSampler(ctx.engines, { controls: options.controls ?? false, intervalMs: options.intervalMs, windowSec: options.windowSec });
  ctx.metrics.onSuccess = (model, seconds) => sampler.record(model, seconds * 1000);
  const feed = new SseFeed();
  let serverUrl = '';
  const load = new LoadGenerator(() => serverUrl, options.images);
  // With the controls on, read the load's images now (in a worker), not when a load starts.
  if (options.controls) load.preload();
  const take = (): DashboardSnapshot => sampler.sample(load.status());
  let last = take();
  const timer = setInterval(() => {
    last = take();
    if (feed.size > 0) feed.broadcast(sseEvent(last.seq, JSON.stringify(last)));
  }, sampler.options.intervalMs);
  timer.unref();

  const assets = assetTable();
  const cache = new Map<string, Reply>();
  const asset = (path: string) => (res: HttpResponse) => {
    let r = cache.get(path);
    if (!r) {
      const a = assets.get(path)!;
      try {
        r = { status: 200, body: readFileSync(a.file), contentType: a.type, headers: { 'Cache-Control': 'no-cache' } };
        cache.set(path, r);
      } catch (err) {
        r = errorReply(500, `dashboard asset ${a.file} cannot be read (${(err as Error).message}); reinstall parm`);
      }
    }
    new HttpExchange(res, () => ctx.draining).send(r);
  };
  for (const path of assets.keys()) app.get(path, asset(path));

  app.get('/dashboard/snapshot', (res) => {
    new HttpExchange(res, () => ctx.draining).send(jsonReply(200, { ...last, history: sampler.history() }));
  });
  app.get('/dashboard/feed', (res) => {
    if (ctx.draining) {
      new HttpExchange(res, () => true).send(errorReply(503, 'server is shutting down'));
      return;
    }
    feed.open(res, sseEvent(last.seq, JSON.stringify({ ...last, history: sampler.history() })));
  });

  app.post(
    '/dashboard/faults',
    control(ctx, options, (body) => {
      if (!isRecord(body)) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', 'expected a JSON object { model, faults }');
      rejectUnknownKeys('', body, ['model', 'faults'], 'PARM_ERR_SERVER_BAD_REQUEST');
      const { engine } = loadedEngine(ctx, body.model);
      if (!Array.isArray(body.faults)) throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', `faults: expected an array of faults, [] to clear them (got ${JSON.stringify(body.faults)})`);
      // The engine validates each fault (a 400 naming the field when one is wrong) and replaces the list.
      engine.setFaults(body.faults as FaultSpec[]);
      ctx.log.warn({ model: body.model, faults: engine.metrics().faults }, 'faults set from the dashboard');
      return jsonReply(200, { model: body.model, faults: engine.metrics().faults });
    }),
  );
  app.post(
    '/dashboard/load',
    control(ctx, options, async (body) => {
      const request = parseLoadRequest(body, new Set(ctx.engines.keys()));
      const { info } = loadedEngine(ctx, request.model);
      if (ctx.draining) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
      const status = await load.start(request, info);
      ctx.log.info({ load: request }, 'load started from the dashboard');
      return jsonReply(200, status);
    }),
  );
  app.del(
    '/dashboard/load',
    control(ctx, options, () => {
      load.stop();
      return jsonReply(200, load.status());
    }),
  );

  return {
    sampler,
    listening(host, port) {
      serverUrl = `http://${loopbackHost(host)}:${port}`;
    },
    async close() {
      clearInterval(timer);
      feed.closeAll();
      await load.close();
    },
  };
}

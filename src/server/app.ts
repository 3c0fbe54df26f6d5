// The network front: Open Inference Protocol v2 over HTTP and a pipelined WebSocket stream, on the
// native uWebSockets.js. startServer builds the shared context, registers the routes
// (http-routes.ts, ws-stream.ts), listens, and owns the graceful close.
import { endianness } from 'node:os';
import { pino, type Logger } from 'pino';
import { ParmError } from '../errors.js';
import type { Engine } from '../engine/types.js';
import { ServerContext } from './context.js';
import { guardRoutes } from './http-front.js';
import { registerFallback, registerHttpRoutes } from './http-routes.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import { loadUws, type TemplatedApp, type us_listen_socket } from './uws.js';
import { registerStream } from './ws-stream.js';

export interface ServerOptions {
  /** Engines to serve, each under its `info.name`. */
  engines: readonly Engine[];
  host?: string;
  /** 0 picks a free port (read it from `server.port`). */
  port?: number;
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  /** Close the engines when the server closes (default true). */
  closeEngines?: boolean;
}

export interface ParmServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly metrics: ServerMetrics;
  readonly limits: Readonly<ServerLimits>;
  /** Stop accepting, answer what is in flight (up to drainTimeoutMs), close connections and engines. */
  close(): Promise<void>;
}

function listen(app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(host, port, (ls) => {
      if (ls) resolve(ls);
      else reject(new ParmError('PARM_ERR_SERVER_CONFIG', `cannot listen on ${host}:${port} (address in use or not available)`));
    });
  });
}

export async function startServer(options: ServerOptions): Promise<ParmServer> {
  if (endianness() !== 'LE') throw new Error('the binary tensor format is little-endian; this host is big-endian');
  const uws = loadUws();
  const limits = resolveLimits(options.limits);
  const log = options.logger ?? pino({ level: 'silent' });
  const ctx = new ServerContext(options.engines, limits, log);

  const app: TemplatedApp = uws.App();
  // Every route goes through the front door (http-front.ts); listen and close use the app itself.
  const routes = guardRoutes(app, ctx);
  registerHttpRoutes(routes, ctx);
  const stream = registerStream(routes, ctx, uws);
  registerFallback(routes, ctx);

  const host = options.host ?? '127.0.0.1';
  const listenSocket = await listen(app, host, options.port ?? 0);
  const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
  log.info({ host, port, models: [...ctx.engines.keys()] }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ctx.startDraining();
      uws.us_listen_socket_close(listenSocket);
      log.info({ inFlight: ctx.requestsInFlight }, 'shutting down: answering requests in flight');
      await ctx.whenIdle(limits.drainTimeoutMs);
      stream.closeAll(1001, 'server shutting down');
      // Let the last answers and close frames reach the kernel before dropping every socket.
      await new Promise((r) => setTimeout(r, 50));
      // App.close() exists in this uWS build (forcefully closes every socket) but not in its typings.
      (app as TemplatedApp & { close(): void }).close();
      if (options.closeEngines ?? true) await Promise.all([...ctx.engines.values()].map((e) => e.close()));
      log.info('closed');
    })();
    return closing;
  };

  return { host, port, url: `http://${host}:${port}`, metrics: ctx.metrics, limits, close };
}

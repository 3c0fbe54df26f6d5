// The network front: Open Inference Protocol v2 over HTTP and a pipelined WebSocket stream, on the
// native uWebSockets.js, and over gRPC (src/grpc/). startServer builds the shared context,
// registers the routes (http-routes.ts, http-operations.ts, ws-stream.ts), listens, and owns the
// graceful close.
import { endianness } from 'node:os';
import { pino, type Logger } from 'pino';
import { registerDashboard, type DashboardOptions } from '../dashboard/routes.js';
import { ParmError } from '../errors.js';
import type { Engine } from '../engine/types.js';
import { startGrpcFront, type GrpcFront, type GrpcTls } from '../grpc/server.js';
import { ServerContext } from './context.js';
import { registerOperationRoutes } from './http-operations.js';
import { registerFallback, registerHttpRoutes } from './http-routes.js';
import type { EngineFactory } from './model-repository.js';
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
  /** Serve gRPC on this port too (0 picks a free one); undefined: no gRPC front. */
  grpcPort?: number;
  /** Serve gRPC over TLS with this certificate chain and key (PEM). */
  grpcTls?: GrpcTls;
  /** Builds a deployment's engine again for a repository load after an unload (without it, load is refused). */
  engineFactory?: EngineFactory;
  /** The live page at GET /dashboard (src/dashboard/); its controls are off by default. */
  dashboard?: DashboardOptions;
}

export interface ParmServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly metrics: ServerMetrics;
  readonly limits: Readonly<ServerLimits>;
  /** The gRPC port and grpc[s]://host:port, when the server has a gRPC front. */
  readonly grpcPort?: number;
  readonly grpcUrl?: string;
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
  const ctx = new ServerContext(options.engines, limits, log, options.engineFactory);

  const app: TemplatedApp = uws.App();
  registerHttpRoutes(app, ctx);
  registerOperationRoutes(app, ctx);
  const stream = registerStream(app, ctx, uws);
  // --- dashboard (src/dashboard/) ---
  // When the server has an auth token, pass its check as `authorize` here: the dashboard's
  // controls call it before acting.
  const dashboard = registerDashboard(app, ctx, options.dashboard);
  // --- end dashboard ---
  registerFallback(app, ctx);

  const host = options.host ?? '127.0.0.1';
  const listenSocket = await listen(app, host, options.port ?? 0).catch(async (err: unknown) => {
    await dashboard.close();
    throw err;
  });
  const port = uws.us_socket_local_port(listenSocket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
  let grpcFront: GrpcFront | undefined;
  if (options.grpcPort !== undefined) {
    try {
      grpcFront = await startGrpcFront(ctx, { host, port: options.grpcPort, tls: options.grpcTls });
    } catch (err) {
      uws.us_listen_socket_close(listenSocket);
      await dashboard.close();
      throw err;
    }
  }
  log.info({ host, port, grpcPort: grpcFront?.port, models: [...ctx.engines.keys()] }, 'listening');
  dashboard.listening(host, port);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      ctx.startDraining();
      await dashboard.close();
      uws.us_listen_socket_close(listenSocket);
      grpcFront?.stopAccepting();
      log.info({ inFlight: ctx.requestsInFlight }, 'shutting down: answering requests in flight');
      await ctx.whenIdle(limits.drainTimeoutMs);
      stream.closeAll(1001, 'server shutting down');
      await grpcFront?.close();
      // Let the last answers and close frames reach the kernel before dropping every socket.
      await new Promise((r) => setTimeout(r, 50));
      // App.close() exists in this uWS build (forcefully closes every socket) but not in its typings.
      (app as TemplatedApp & { close(): void }).close();
      if (options.closeEngines ?? true) await Promise.all([...ctx.engines.values()].map((e) => e.close()));
      log.info('closed');
    })();
    return closing;
  };

  const grpcInfo = grpcFront ? { grpcPort: grpcFront.port, grpcUrl: grpcFront.url } : {};
  return { host, port, url: `http://${host}:${port}`, metrics: ctx.metrics, limits, ...grpcInfo, close };
}

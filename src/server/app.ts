// The network front: Open Inference Protocol v2 over HTTP and a pipelined WebSocket stream, on the
// native uWebSockets.js, and over gRPC (src/grpc/). startServer builds the shared context,
// registers the routes (http-routes.ts, http-operations.ts, ws-stream.ts) behind the front door
// (http-front.ts), listens, and owns the graceful close.
import net from 'node:net';
import { endianness } from 'node:os';
import { pino, type Logger } from 'pino';
import { registerDashboard, type DashboardOptions } from '../dashboard/routes.js';
import { ParmError } from '../errors.js';
import type { Engine } from '../engine/types.js';
import { startGrpcFront, type GrpcFront, type GrpcTls } from '../grpc/server.js';
import { ServerContext } from './context.js';
import { registerPreflight } from './cors.js';
import { guardRoutes } from './http-front.js';
import { registerOperationRoutes } from './http-operations.js';
import { registerFallback, registerHttpRoutes } from './http-routes.js';
import type { EngineFactory } from './model-repository.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import { loadUws, type TemplatedApp, type UwsModule, type us_listen_socket } from './uws.js';
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
  /** Require `Authorization: Bearer <authToken>` on every route but the health probes (HTTP, the stream upgrade, gRPC metadata). */
  authToken?: string;
  /** Origins (`scheme://host[:port]`, or `*`) whose browser pages may call the HTTP API (CORS). */
  cors?: readonly string[];
  /** Log one JSON line per inference request (id, model, transport, status, latency, reconstructed), whatever the logger's level. */
  accessLog?: boolean;
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

/**
 * Rejects with PARM_ERR_SERVER_CONFIG naming host:port and why, when Node's own exclusive bind of
 * it fails now (uWS reports only that its bind failed); resolves when it could be bound. A check
 * at one moment: the exclusive bind in startServer is what guarantees one server per port.
 */
export function checkListenable(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use (by another parm serve or another program)'
          : err.code === 'EADDRNOTAVAIL'
            ? "the address is not one of this host's"
            : err.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : err.message;
      reject(new ParmError('PARM_ERR_SERVER_CONFIG', `cannot listen on ${host}:${port}: ${why}`));
    });
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Listens on host:port, exclusively. uWS binds with SO_REUSEPORT by default, which lets a second
 * server on a taken port start and take half the connections; LIBUS_LISTEN_EXCLUSIVE_PORT makes
 * the kernel refuse the bind at once instead (no probe-then-bind race), for port 0 as well.
 */
function listen(uws: UwsModule, app: TemplatedApp, host: string, port: number): Promise<us_listen_socket> {
  return new Promise<us_listen_socket>((resolve, reject) => {
    // The (host, port, options, cb) form and the flag's runtime export exist in this uWS build but not in its typings.
    const listenWith = app.listen as unknown as (h: string, p: number, o: number, cb: (ls: us_listen_socket | false) => void) => void;
    const exclusive = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;
    listenWith.call(app, host, port, exclusive, (ls) => {
      if (ls) resolve(ls);
      else checkListenable(host, port).then(() => reject(new ParmError('PARM_ERR_SERVER_CONFIG', `cannot listen on ${host}:${port} (address in use or not available; a connection closed moments ago may hold it in TIME_WAIT)`)), reject);
    });
  });
}

export async function startServer(options: ServerOptions): Promise<ParmServer> {
  if (endianness() !== 'LE') throw new Error('the binary tensor format is little-endian; this host is big-endian');
  const uws = loadUws();
  const limits = resolveLimits(options.limits);
  const log = options.logger ?? pino({ level: 'silent' });
  const ctx = new ServerContext(options.engines, limits, log, { factory: options.engineFactory, authToken: options.authToken, cors: options.cors, accessLog: options.accessLog });

  const app: TemplatedApp = uws.App();
  // Every route goes through the front door (http-front.ts); listen and close use the app itself.
  const routes = guardRoutes(app, ctx);
  registerHttpRoutes(routes, ctx);
  registerOperationRoutes(routes, ctx);
  const stream = registerStream(routes, ctx, uws);
  // --- dashboard (src/dashboard/) ---
  // Behind the front door like every route: with an auth token, the page and its controls need it.
  const dashboard = registerDashboard(routes, ctx, options.dashboard);
  // --- end dashboard ---
  if (ctx.cors) registerPreflight(routes, ctx, ctx.cors);
  registerFallback(routes, ctx);

  const host = options.host ?? '127.0.0.1';
  const listenSocket = await listen(uws, app, host, options.port ?? 0).catch(async (err: unknown) => {
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

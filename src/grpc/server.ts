// The gRPC front: `inference.GRPCInferenceService` on @grpc/grpc-js over the same ServerContext
// as HTTP and WebSocket (one admission gate, one request reader, the same limits, metrics and
// drain). Health, metadata, statistics and repository calls answer from the server's state;
// ModelInfer and ModelStreamInfer run on the engines. Plain text or TLS (--grpc-tls-cert/-key).
import * as grpc from '@grpc/grpc-js';
import { ParmError } from '../errors.js';
import type { ServerContext } from '../server/context.js';
import { modelMetadata, serverMetadata } from '../server/server-metadata.js';
import { grpcError, inferOnce } from './infer-call.js';
import { inferenceService, type ModelInferRequest } from './service.js';
import { StreamRegistry, modelStreamInfer } from './stream.js';

export interface GrpcTls {
  /** PEM certificate chain. */
  cert: Buffer;
  /** PEM private key. */
  key: Buffer;
}

export interface GrpcFrontOptions {
  host: string;
  /** 0 picks a free port (read it from `port`). */
  port: number;
  tls?: GrpcTls;
}

export interface GrpcFront {
  readonly port: number;
  /** grpc://host:port, or grpcs:// with TLS. */
  readonly url: string;
  /** Stops taking new calls and connections; calls in progress go on. */
  stopAccepting(): void;
  /** Ends the open streams with UNAVAILABLE, then closes every connection. */
  close(): Promise<void>;
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** A unary call that answers from the server's state; a thrown error becomes its gRPC status. */
function fromState<Req, Res>(ctx: ServerContext, answer: (req: Req) => Res | Promise<Res>): Unary<Req, Res> {
  return (call, callback) => {
    let out: Res | Promise<Res>;
    try {
      out = answer(call.request);
    } catch (err) {
      callback(grpcError(ctx, err, ''));
      return;
    }
    Promise.resolve(out).then(
      (r) => callback(null, r),
      (err: unknown) => callback(grpcError(ctx, err, '')),
    );
  };
}

interface NameVersion {
  name: string;
  version: string;
}

const optional = (s: string): string | undefined => (s === '' ? undefined : s);

function handlers(ctx: ServerContext, streams: StreamRegistry): grpc.UntypedServiceImplementation {
  return {
    ServerLive: fromState(ctx, () => ({ live: !ctx.draining })),
    ServerReady: fromState(ctx, () => ({ ready: ctx.ready() })),
    ModelReady: fromState(ctx, (r: NameVersion) => ({ ready: !ctx.draining && ctx.lookup(r.name, optional(r.version)).isReady() })),
    ServerMetadata: fromState(ctx, () => serverMetadata()),
    ModelMetadata: fromState(ctx, (r: NameVersion) => modelMetadata(ctx.infoOf(ctx.lookup(r.name, optional(r.version))))),
    ModelStatistics: fromState(ctx, (r: NameVersion) => ({ model_stats: ctx.statistics.report(ctx.repository.slots.values(), optional(r.name), optional(r.version)) })),
    RepositoryIndex: fromState(ctx, (r: { ready: boolean }) => ({ models: ctx.repository.index(r.ready) })),
    RepositoryModelLoad: fromState(ctx, (r: { model_name: string }) => ctx.control(r.model_name, 'load').then(() => ({}))),
    RepositoryModelUnload: fromState(ctx, (r: { model_name: string }) => ctx.control(r.model_name, 'unload').then(() => ({}))),
    ModelInfer: ((call, callback) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort());
      const msg = call.request;
      inferOnce(ctx, msg, abort.signal, call.getDeadline(), (err, r) => (r ? callback(null, r) : callback(grpcError(ctx, err, msg.model_name, msg.id))));
    }) as Unary<ModelInferRequest, unknown>,
    ModelStreamInfer: modelStreamInfer(ctx, streams),
  };
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new ParmError('PARM_ERR_SERVER_CONFIG', `cannot listen for gRPC on ${address}: ${err.message}`));
      else resolve(port);
    });
  });
}

/** `[v6]:port` for an IPv6 literal, `host:port` otherwise. */
function address(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Binds and starts the gRPC front. A port another process listens on fails at once (grpc-js binds
 * without SO_REUSEPORT, so it cannot silently share a port the way uWebSockets.js can).
 */
export async function startGrpcFront(ctx: ServerContext, o: GrpcFrontOptions): Promise<GrpcFront> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': ctx.limits.maxMessageBytes,
    // Calls in flight per connection, as on a WebSocket; more wait in the client (HTTP/2 flow control).
    'grpc.max_concurrent_streams': ctx.limits.maxInFlightPerConnection,
  });
  const streams = new StreamRegistry();
  server.addService(inferenceService(), handlers(ctx, streams));
  const creds = o.tls ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: o.tls.cert, private_key: o.tls.key }], false) : grpc.ServerCredentials.createInsecure();
  const port = await bind(server, address(o.host, o.port), creds);
  const bound = address(o.host, port);
  return {
    port,
    url: `${o.tls ? 'grpcs' : 'grpc'}://${bound}`,
    stopAccepting() {
      // New calls on open connections are refused (GOAWAY); those in progress finish.
      server.unbind(bound);
      server.tryShutdown(() => undefined);
    },
    async close() {
      streams.endAll('server is shutting down');
      // Let the last statuses reach the kernel before dropping every connection.
      await new Promise((r) => setTimeout(r, 50));
      server.forceShutdown();
    },
  };
}

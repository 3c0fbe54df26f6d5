// Access control on the gRPC front: a server interceptor that checks the `authorization` metadata
// of every call with the server's one bearer check (src/server/auth.ts), before the handler runs;
// ServerLive and ServerReady (the health probes, as on HTTP) are let through without it.
import * as grpc from '@grpc/grpc-js';
import { GRPC_STATUS } from '../errors.js';
import { UNAUTHORIZED_MESSAGE } from '../server/auth.js';
import type { ServerContext } from '../server/context.js';

const PUBLIC_METHODS: ReadonlySet<string> = new Set(['/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady']);

/** Refuses a call without the token with UNAUTHENTICATED and HTTP's 401 message; the handler never sees it. */
export function authInterceptor(ctx: ServerContext): grpc.ServerInterceptor {
  return (method, call) => {
    if (PUBLIC_METHODS.has(method.path)) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const value = metadata.get('authorization')[0];
            if (ctx.checkBearer(typeof value === 'string' ? value : undefined)) pass(metadata);
            else call.sendStatus({ code: GRPC_STATUS.UNAUTHENTICATED, details: UNAUTHORIZED_MESSAGE, metadata: new grpc.Metadata() });
          },
        });
      },
    });
  };
}

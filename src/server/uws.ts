// Loads the native uWebSockets.js binary directly. The package's own loader silently falls back
// to a pure-JS implementation when the binary does not match this Node; the server must never
// run on that fallback, so this module loads the binary by path and fails loudly otherwise.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as Uws from 'uWebSockets.js';

export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';
export type UwsModule = typeof Uws;

/**
 * Bytes a corked uWS response buffers before writing to the socket. A reply longer than this
 * reaches the socket while the handler runs, before uWS may drop the connection after it.
 */
export const UWS_CORK_BUFFER_BYTES = 16 * 1024;

let cached: UwsModule | undefined;

/** Path of the native binary for this platform, architecture and Node ABI. */
export function uwsBinaryPath(): string {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve('uWebSockets.js/package.json'));
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return join(pkgDir, 'binaries', name);
}

/** The native uWebSockets.js module; throws (never falls back) when the binary cannot load. */
export function loadUws(): UwsModule {
  if (cached) return cached;
  const path = uwsBinaryPath();
  if (!existsSync(path)) {
    throw new Error(
      `uWebSockets.js native binary not found at ${path} (platform ${process.platform}, arch ${process.arch}, ` +
        `Node ABI ${process.versions.modules}); refusing to run on the pure-JS fallback`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as UwsModule;
  } catch (err) {
    throw new Error(`uWebSockets.js native binary at ${path} failed to load: ${(err as Error).message}`, { cause: err });
  }
  if (typeof cached.App !== 'function' || typeof (cached as { LIBUS_LISTEN_EXCLUSIVE_PORT?: unknown }).LIBUS_LISTEN_EXCLUSIVE_PORT !== 'number') {
    cached = undefined;
    throw new Error(`uWebSockets.js native binary at ${path} does not export App() and LIBUS_LISTEN_EXCLUSIVE_PORT`);
  }
  return cached;
}

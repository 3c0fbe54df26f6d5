// Loads the native addon (bindings/ + native/, built by cmake-js) once per process and hands the
// same binding to every caller. Which file: $PARM_ADDON if set (e.g. the CUDA build,
// build-cuda/Release/parm.node), else build/Release/parm.node under the package root.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

import { ParmError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { ErrorClass, NativeBinding } from './binding.js';

let cached: NativeBinding | undefined;

/** The path the loader will use. */
export function addonPath(): string {
  const env = process.env['PARM_ADDON'];
  if (env) return resolve(env);
  return join(packageRoot(), 'build', 'Release', 'parm.node');
}

/** The addon, loaded on first use; PARM_ERR_CODEC_UNSUPPORTED when it was not built. */
export function addon(): NativeBinding {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new ParmError('PARM_ERR_CODEC_UNSUPPORTED',
      `native addon not found at ${path}; build it with \`npm run build:native\` (or set PARM_ADDON)`);
  }
  const b = createRequire(import.meta.url)(path) as NativeBinding;
  b.init({ ParmError: ParmError as unknown as ErrorClass });
  cached = b;
  return b;
}

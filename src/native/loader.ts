// Loads the native addon once. Which file: $PARM_ADDON if set (e.g. the CUDA build,
// build-cuda/Release/parm.node), else build/Release/parm.node under the package root.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ParmError } from '../errors.js';
import type { ErrorClass, NativeBinding } from './binding.js';

let cached: NativeBinding | undefined;

/** The package root: the nearest directory above this file holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'CMakeLists.txt'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('parm: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The path the loader will use. */
export function addonPath(): string {
  const env = process.env['PARM_ADDON'];
  if (env) return resolve(env);
  return join(packageRoot(), 'build', 'Release', 'parm.node');
}

export function loadBinding(): NativeBinding {
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

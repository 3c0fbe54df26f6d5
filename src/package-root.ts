// The one place that finds the parm package root (the folder holding parm's package.json), from
// this file in src/ (tests, through tap's loader) or in dist/src/ (the compiled package).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The nearest folder above this module whose package.json is named "parm". */
export function packageRoot(): string {
  if (cached) return cached;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; ) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'parm') return (cached = dir);
      } catch {
        // an unreadable package.json is not ours; keep looking upwards
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`parm: cannot find the parm package root above ${start}`);
    dir = up;
  }
}

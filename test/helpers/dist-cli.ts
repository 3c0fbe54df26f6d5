// The compiled command line (dist/src/cli/entry.js) when it is at least as new as every source
// file under src/, else null. A test that starts many `parm` processes runs this one where it can:
// a process under the TypeScript loader spends seconds of CPU compiling before it serves.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The compiled entry, or null with why not (for a comment in the test's output). */
export function freshDistCli(): { entry: string } | { entry: null; why: string } {
  const entry = join(root, 'dist/src/cli/entry.js');
  if (!existsSync(entry)) return { entry: null, why: 'dist/ not built (npm run build)' };
  return statSync(entry).mtimeMs >= newestMtimeMs(join(root, 'src')) ? { entry } : { entry: null, why: 'dist/ older than src/ (npm run build)' };
}

#!/usr/bin/env -S node --no-memory-reducer
// The `parm` command: a thin shim over the compiled CLI in dist/, under a parm server's Node flags
// (src/server/node-flags.ts says why; `env -S` splits the line).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`parm: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});

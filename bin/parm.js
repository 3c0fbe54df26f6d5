#!/usr/bin/env node
// The `parm` command: a thin shim over the compiled CLI in dist/.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`parm: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});

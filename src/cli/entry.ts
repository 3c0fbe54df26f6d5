// The `parm` command line as a program run by path: what bin/parm.js does for dist/, runnable from
// source as well (under a TypeScript loader). Programs that start `parm` themselves (the tail
// benchmark's `parm serve`, tests) spawn this file rather than import the CLI.
import { main } from './main.js';

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`parm: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

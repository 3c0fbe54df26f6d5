// Preloaded with --import into a `parm serve` under test: on SIGUSR2 it runs a full garbage
// collection and prints the process's memory on stderr as one line, `parm-memory-probe {JSON of
// process.memoryUsage()}`, so that a test can compare heap and external memory between phases.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export const MEMORY_PROBE_PREFIX = 'parm-memory-probe ';

process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) gc();
  process.stderr.write(`${MEMORY_PROBE_PREFIX}${JSON.stringify(process.memoryUsage())}\n`);
});

// Entry the benchmark spawns for each run's server: `parm serve` exactly as bin/parm.js runs it,
// but resolvable from source (tests, via the loader tap passes on) as well as from dist/.
import { main } from '../../cli/main.js';

await main(['serve', ...process.argv.slice(2)]);

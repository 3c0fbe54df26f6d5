// Runs the `parm` command line from source, as bin/parm.js runs it from dist/ (for tests that
// spawn it under tap's TypeScript loader).
import { main } from '../../src/cli/main.js';

await main(process.argv.slice(2));

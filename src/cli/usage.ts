// The one command-line usage error: thrown by every command's flag checks, printed by main as
// `parm: <message>` with exit status 2.
import { ParmError } from '../errors.js';

export function usage(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

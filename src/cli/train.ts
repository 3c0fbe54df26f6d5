// `parm train`: placeholder registration, replaced by the module that implements the command.
import type { Command } from 'commander';
import { ParmError } from '../errors.js';

export function register(program: Command): void {
  program.command('train').allowUnknownOption().action(() => {
    throw new ParmError('PARM_ERR_CLI_USAGE', '`parm train` is not available in this build yet');
  });
}

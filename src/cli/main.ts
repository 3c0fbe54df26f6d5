// The `parm` command line: one program, a subcommand per job. Each subcommand lives in its own
// module and is loaded only when used, so `parm serve` never pays for the trainer's imports.
import { Command, CommanderError } from 'commander';
import { ParmError } from '../errors.js';

type Register = (program: Command) => void;

const SUBCOMMANDS: ReadonlyArray<[string, string, () => Promise<{ register: Register }>]> = [
  ['serve', 'serve deployments over HTTP, WebSocket and gRPC (Open Inference Protocol v2)', () => import('./serve.js')],
  ['worker', 'serve one ONNX model over OIP HTTP, no coding: a backend for a parm frontend on another host', () => import('./worker.js')],
  ['train', 'train deployed models and parity models (runs the Python trainer)', () => import('./train.js')],
  ['eval', 'measure deployed and degraded-mode accuracy through the serving path', () => import('./eval.js')],
  ['bench', 'benchmarks: tail latency under load, coding kernels', () => import('./bench.js')],
  ['simulate', "discrete-event simulation of the engine at fleet scale, calibrated on real runs", () => import('./simulate.js')],
];

export async function main(argv: string[]): Promise<void> {
  const program = new Command('parm')
    .description('parm: prediction serving with erasure-coded resilience (parity models)')
    .showHelpAfterError()
    .exitOverride();
  const wanted = argv.find((a) => !a.startsWith('-'));
  for (const [name, summary, load] of SUBCOMMANDS) {
    if (name === wanted) (await load()).register(program);
    else program.command(name).description(summary).allowUnknownOption().helpOption(false);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof ParmError) {
      process.stderr.write(`parm: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

// `parm train`: runs the Python trainer (training/, through src/trainer.ts) with the arguments
// given, after checking at the edge what can be checked without Python, so bad input is one line
// that says what to do.
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { ParmError } from '../errors.js';
import { runTrainer } from '../trainer.js';

export const TRAIN_JOBS = ['deployed', 'parity', 'bundle', 'cost', 'golden', 'manifest'] as const;
export const ENCODERS = ['sum', 'concat'] as const;

const HELP = `usage: parm train <job> [options]   (runs python3 -m training <job> ...)

jobs:
  deployed  --model mlp|cnn --out PATH.onnx [--dataset DIR] [--epochs N] [--hidden 512,256] [--channels 16,32]
  parity    --deployed PATH.onnx --k 2..8 --encoder sum|concat --out PATH.onnx [--dataset DIR] [--epochs N]
            [--model mlp|cnn|split --inner mlp|cnn --hidden W,W --channels C,C] [--init deployed]
            [--ce-weight X] [--kd-weight X --kd-temp T] [--coefficients W,W] [--augment]
            [--schedule none|cosine] [--train-limit N] [--allow-costlier]
            refuses an architecture that costs more multiply-adds than the deployed model
            (the cost rule) unless --allow-costlier, which marks the card "within_budget": false
  bundle    [--models models] [--only GLOB] [--dry-run]   retrain every bundled model, then the manifest
  cost      MODEL.onnx...                multiply-adds (Gemm/MatMul/Conv, batch 1) of ONNX models, as JSON
  golden    [--out test/fixtures/golden]    write the golden encoder fixtures
  manifest  [--models models]               write models/manifest.json from the model cards

Each job takes --help for all its options. See docs/training.md.
`;

function usage(message: string): never {
  throw new ParmError('PARM_ERR_TRAIN_INPUT', message);
}

function optionValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag) return args[i + 1] ?? usage(`${flag} needs a value`);
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

/** Checks what needs no Python: the job, k, the encoder, the dataset path. Throws ParmError. */
export function checkTrainArgs(args: readonly string[]): void {
  const job = args[0];
  if (job === undefined || job === '--help' || job === '-h') return;
  if (!(TRAIN_JOBS as readonly string[]).includes(job)) {
    usage(`unknown job '${job}': use one of ${TRAIN_JOBS.join(', ')} (parm train --help)`);
  }
  if (args.includes('--help') || args.includes('-h')) return;
  const k = optionValue(args, '--k');
  if (k !== undefined) {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 2 || n > 8) usage(`--k must be an integer from 2 to 8, got '${k}'`);
  } else if (job === 'parity') {
    usage('parity needs --k (the coding group size, 2 to 8)');
  }
  const encoder = optionValue(args, '--encoder');
  if (encoder !== undefined && !(ENCODERS as readonly string[]).includes(encoder)) {
    usage(`unknown encoder '${encoder}': use --encoder sum or --encoder concat`);
  }
  const dataset = optionValue(args, '--dataset');
  if (dataset !== undefined && !(existsSync(dataset) && statSync(dataset).isDirectory())) {
    usage(`dataset directory ${dataset} does not exist; pass --dataset DIR with IDX or .npy files ` +
      '(Fashion-MNIST: apt-get install dataset-fashion-mnist, then /usr/share/datasets/fashion-mnist)');
  }
  const deployed = optionValue(args, '--deployed');
  if (deployed !== undefined && !existsSync(deployed)) {
    usage(`deployed model ${deployed} does not exist; train one first with parm train deployed`);
  }
}

export function register(program: Command): void {
  program.command('train')
    .description('train deployed models and parity models (runs the Python trainer in training/)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'job and its options, passed to python3 -m training')
    .action(async (_args: string[], _opts: unknown, cmd: Command) => {
      const args = cmd.args;
      if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
        process.stdout.write(HELP);
        return;
      }
      checkTrainArgs(args);
      const run = await runTrainer(args);
      // The trainer already printed its one-line error; only pass its status on.
      if (run.code !== 0) process.exitCode = run.code;
    });
}

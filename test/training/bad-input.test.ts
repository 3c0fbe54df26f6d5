// Bad input to `parm train` and `parm eval`: each is one line that says what to do, never a stack
// trace, both at the TypeScript edge and from the Python trainer itself.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { main } from '../../src/cli/main.js';
import { checkTrainArgs } from '../../src/cli/train.js';
import { pythonExecutable, runTrainer } from '../../src/trainer.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { ParmError } from '../../src/errors.js';

/** A little-endian C-order .npy file (v1) of float32 or int64 values. */
function npy(shape: number[], data: Float32Array | BigInt64Array): Buffer {
  const descr = data instanceof Float32Array ? '<f4' : '<i8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function oneLine(t: Test, text: string, prefix: string, advice: RegExp): void {
  const lines = text.trim().split('\n');
  t.equal(lines.length, 1, `one line: ${text.trim()}`);
  t.ok(lines[0]!.startsWith(prefix), `starts with '${prefix}'`);
  t.notMatch(text, /Traceback|    at /, 'no stack trace');
  t.match(lines[0]!, advice, 'says what to do');
}

t.test('edge checks in TypeScript', async (t) => {
  const cases: [string[], RegExp][] = [
    [['parity', '--deployed', 'x.onnx', '--k', '1', '--out', 'y.onnx'], /--k must be an integer from 2 to 8, got '1'/],
    [['parity', '--deployed', 'x.onnx', '--k', '2', '--encoder', 'xor', '--out', 'y.onnx'], /use --encoder sum or --encoder concat/],
    [['deployed', '--model', 'mlp', '--dataset', '/nonexistent/dataset', '--out', 'y.onnx'], /does not exist; pass --dataset DIR/],
    [['parity', '--encoder', 'sum', '--out', 'y.onnx'], /parity needs --k/],
    [['fit'], /unknown job 'fit': use one of deployed, parity/],
  ];
  for (const [args, msg] of cases) {
    t.throws(() => checkTrainArgs(args), { name: 'ParmError', code: 'PARM_ERR_TRAIN_INPUT', message: msg }, args.join(' '));
  }
  t.doesNotThrow(() => checkTrainArgs(['golden', '--out', 'x']), 'a valid job passes');

  // Through the CLI entry: one line on stderr, exit status 1.
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((c: string) => { chunks.push(String(c)); return true; }) as typeof process.stderr.write;
  try {
    await main(['train', 'parity', '--deployed', 'x.onnx', '--k', '1', '--out', 'y.onnx']);
  } finally {
    process.stderr.write = write;
  }
  t.equal(process.exitCode, 1, 'exit status 1');
  process.exitCode = 0;
  oneLine(t, chunks.join(''), 'parm: ', /--k must be an integer from 2 to 8/);
});

const torchOk = spawnSync(pythonExecutable(), ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' }).status === 0;
const skip = !existsSync(DEFAULT_DATASET_DIR)
  ? `no dataset at ${DEFAULT_DATASET_DIR} (apt-get install dataset-fashion-mnist)`
  : !torchOk ? `${pythonExecutable()} cannot import torch, onnx and numpy (apt-get install python3-torch python3-onnx)` : false;

t.test('the Python trainer prints one line too', { skip }, async (t) => {
  const dir = t.testdir({});
  // A non-image dataset in the .npy layout: 40 features, 10 classes.
  const vec = join(dir, 'vectors');
  mkdirSync(vec);
  const rows = 300, feats = 40;
  const x = Float32Array.from({ length: rows * feats }, (_, i) => Math.sin(i * 0.37));
  const y = BigInt64Array.from({ length: rows }, (_, i) => BigInt(i % 10));
  for (const split of ['train', 'test']) {
    writeFileSync(join(vec, `${split}-inputs.npy`), npy([rows, feats], x));
    writeFileSync(join(vec, `${split}-labels.npy`), npy([rows], y));
  }
  const models = join(dir, 'models');
  const dep = join(models, 'vectors', 'mlp', 'deployed.onnx');
  const trained = await runTrainer(['deployed', '--model', 'mlp', '--hidden', '16', '--dataset', vec, '--epochs', '1',
    '--heldout', '50', '--no-progress', '--out', dep], { capture: true });
  t.equal(trained.code, 0, 'an MLP trains on the .npy layout');

  const cases: [string, string[], RegExp][] = [
    ['missing dataset path', ['deployed', '--model', 'mlp', '--dataset', join(dir, 'nope'), '--out', join(dir, 'a.onnx')], /does not exist; pass --dataset DIR/],
    ['k < 2', ['parity', '--deployed', dep, '--k', '1', '--out', join(dir, 'b.onnx')], /--k must be between 2 and 8, got 1/],
    ['unknown encoder', ['parity', '--deployed', dep, '--k', '2', '--encoder', 'xor', '--out', join(dir, 'c.onnx')], /use --encoder sum or --encoder concat/],
    ['model input shape does not match the dataset', ['parity', '--deployed', dep, '--k', '2', '--out', join(dir, 'd.onnx')],
      /takes input \[-1, 40\] but dataset fashion-mnist has inputs \[-1, 1, 28, 28\]: pass the dataset the model was trained on/],
    ['concat on non-image inputs', ['parity', '--deployed', dep, '--k', '2', '--encoder', 'concat', '--dataset', vec, '--out', join(dir, 'e.onnx')],
      /needs image inputs .* use --encoder sum/],
  ];
  for (const [what, args, advice] of cases) {
    const run = await runTrainer(args, { capture: true });
    t.equal(run.code, 2, `${what}: exit status 2`);
    oneLine(t, run.stderr, 'parm train: ', advice);
  }

  // `parm eval` checks the same mismatch before running anything.
  const m = await runTrainer(['manifest', '--models', models, '--default', 'vectors-mlp'], { capture: true });
  t.equal(m.code, 0, 'manifest for the vector model');
  await t.rejects(evaluate({ modelsDir: models }), new ParmError('PARM_ERR_CLI_USAGE',
    `model ${dep} takes input [-1, 40] but dataset fashion-mnist has inputs [-1, 1, 28, 28]: pass --dataset with the data the model was trained on`));
  const report = await evaluate({ modelsDir: models, datasetDir: vec });
  t.equal(report.deployments[0]?.test_inputs, rows, 'and evaluates it on its own .npy dataset');
  await t.rejects(evaluate({ modelsDir: join(dir, 'none') }), { code: 'PARM_ERR_CLI_USAGE', message: /manifest.json does not exist; pass --models DIR/ });
});

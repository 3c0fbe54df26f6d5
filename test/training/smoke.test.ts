// Smoke test of the whole training path: a deployed MLP (two epochs) and a concatenation parity
// model of the same architecture (one epoch), each on a 20,000-image subset of Fashion-MNIST, exported to ONNX, evaluated
// through onnxruntime-node and the native codec; the parity model must beat the deployed model
// used as its own parity model. (With the sum encoder a barely trained, nearly linear deployed
// model is its own good parity model, F(a + b) ~ F(a) + F(b), so that floor is too close for one
// epoch.)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pythonExecutable, runTrainer } from '../../src/trainer.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';
import { evaluate } from '../../src/eval/evaluate.js';

const torchOk = spawnSync(pythonExecutable(), ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' }).status === 0;
const skip = !existsSync(DEFAULT_DATASET_DIR)
  ? `no dataset at ${DEFAULT_DATASET_DIR} (apt-get install dataset-fashion-mnist)`
  : !torchOk ? `${pythonExecutable()} cannot import torch, onnx and numpy (apt-get install python3-torch python3-onnx)` : false;

t.test('train one epoch, export, evaluate through the serving path', { skip }, async (t) => {
  const dir = t.testdir({});
  const dep = join(dir, 'fashion-mnist', 'mlp', 'deployed.onnx');
  const par = join(dir, 'fashion-mnist', 'mlp', 'parity-concat-k2.onnx');
  const quick = ['--heldout', '1000', '--no-progress'];

  const d = await runTrainer(['deployed', '--model', 'mlp', '--hidden', '128', '--epochs', '2', '--train-limit', '20000', '--out', dep, ...quick], { capture: true });
  t.equal(d.code, 0, `deployed model trains (${d.stderr.trim().split('\n').pop()})`);
  const p = await runTrainer(['parity', '--deployed', dep, '--k', '2', '--encoder', 'concat',
    '--epochs', '1', '--train-limit', '20000', '--out', par, ...quick], { capture: true });
  t.equal(p.code, 0, `parity model trains (${p.stderr.trim().split('\n').pop()})`);
  const m = await runTrainer(['manifest', '--models', dir, '--default', 'fashion-mnist-mlp'], { capture: true });
  t.equal(m.code, 0, 'manifest written');

  const card = JSON.parse(readFileSync(par.replace(/\.onnx$/, '.json'), 'utf8'));
  t.match(card, { role: 'parity', k: 2, encoder: 'concat', input: { name: 'input', shape: [-1, 1, 28, 28] },
    output: { name: 'logits', shape: [-1, 10] }, training: { seed: Number, command: String }, versions: { torch: String },
    architecture: { kind: 'mlp', hidden: [128] }, parity_flops_ratio: 1, within_budget: true, parity_latency_ratio: Number });
  t.ok(existsSync(par.replace(/\.onnx$/, '.svg')), 'training curve written next to the model');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  t.same(manifest.deployments['fashion-mnist-mlp'].parity, [{ k: 2, encoder: 'concat', path: 'fashion-mnist/mlp/parity-concat-k2.onnx', card: 'fashion-mnist/mlp/parity-concat-k2.json' }]);

  const report = await evaluate({ modelsDir: dir, limit: 4000 });
  const r = report.results[0]!;
  t.equal(report.results.length, 1);
  t.equal(r.test_groups, 2000);
  t.ok(r.deployed_accuracy > 0.7, `deployed accuracy ${r.deployed_accuracy} after two epochs`);
  t.ok(r.degraded_accuracy > r.floor_self_parity_accuracy,
    `degraded ${r.degraded_accuracy} beats the self-parity floor ${r.floor_self_parity_accuracy}`);
  t.ok(r.degraded_accuracy > r.floor_majority_accuracy, 'and the majority-class floor');
  // The trainer's own (Python) figure on the full test set is close to the serving-path one.
  t.ok(Math.abs(card.accuracy.degraded_test - r.degraded_accuracy) < 0.05, 'Python and serving-path figures agree');
});

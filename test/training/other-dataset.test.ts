// `parm train` and `parm eval` on an IDX dataset the project has never seen, with the same
// commands as on Fashion-MNIST: a synthetic 4-class set of 18x20 images (bars, a block, a
// diagonal, with noise) written as gzipped IDX files. The image size is not 28x28 and does not
// divide into 3 tiles, so the concatenation encoder's uneven tiles and the split parity model are
// exercised; the cost rule refuses an over-budget architecture, and a model trained anyway with
// --allow-costlier is marked and left out of the manifest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { pythonExecutable, runTrainer } from '../../src/trainer.js';

const torchOk = spawnSync(pythonExecutable(), ['-c', 'import torch, onnx, numpy'], { stdio: 'ignore' }).status === 0;
const skip = torchOk ? false : `${pythonExecutable()} cannot import torch, onnx and numpy (apt-get install python3-torch python3-onnx)`;

const H = 18, W = 20, CLASSES = 4;

function idx(dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2);
  head.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([head, Buffer.from(body)]));
}

/** n images of class i % 4 with a random position and noise, from a small LCG (deterministic). */
function synthetic(n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const images = new Uint8Array(n * H * W), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    labels[i] = c;
    const img = images.subarray(i * H * W, (i + 1) * H * W);
    const r0 = 2 + Math.floor(rnd() * (H - 6)), c0 = 2 + Math.floor(rnd() * (W - 6));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const on = c === 0 ? Math.abs(y - r0) <= 1 && x > 1 && x < W - 2
          : c === 1 ? Math.abs(x - c0) <= 1 && y > 1 && y < H - 2
            : c === 2 ? y >= r0 && y < r0 + 4 && x >= c0 && x < c0 + 4
              : Math.abs(y - x + (c0 - r0)) <= 1;
        img[y * W + x] = Math.min(255, (on ? 200 : 0) + Math.floor(rnd() * 50));
      }
    }
  }
  return { images, labels };
}

t.test('parm train and parm eval on another IDX dataset', { skip }, async (t) => {
  // A folder of its own under the system temp dir (not tap's fixtures folder, shared by every test file).
  const dir = mkdtempSync(join(tmpdir(), 'parm-other-dataset-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'bars');
  mkdirSync(data);
  for (const [prefix, n, seed] of [['train', 1600, 1], ['t10k', 400, 2]] as const) {
    const { images, labels } = synthetic(n, seed);
    writeFileSync(join(data, `${prefix}-images-idx3-ubyte.gz`), idx([n, H, W], images));
    writeFileSync(join(data, `${prefix}-labels-idx1-ubyte.gz`), idx([n], labels));
  }
  const models = join(dir, 'models');
  const base = join(models, 'bars', 'cnn');
  const dep = join(base, 'deployed.onnx');
  const common = ['--dataset', data, '--heldout', '200', '--no-progress'];
  const train = async (what: string, args: string[]) => {
    const run = await runTrainer([...args, ...common], { capture: true });
    t.equal(run.code, 0, `${what} (${run.stderr.trim().split('\n').pop()})`);
    return run;
  };

  await train('deployed cnn', ['deployed', '--model', 'cnn', '--channels', '8,16', '--hidden', '32', '--epochs', '6', '--batch', '32', '--out', dep]);
  const sum = join(base, 'parity-sum-k2.onnx');
  await train('sum k=2, the deployed architecture, warm start', ['parity', '--deployed', dep, '--k', '2', '--encoder', 'sum',
    '--init', 'deployed', '--kd-weight', '1', '--epochs', '3', '--out', sum]);
  const split = join(base, 'parity-concat-k3.onnx');
  await train('concat k=3, split (uneven tiles)', ['parity', '--deployed', dep, '--k', '3', '--encoder', 'concat', '--model', 'split',
    '--ce-weight', '1', '--epochs', '4', '--out', split]);

  const tiled = join(base, 'parity-concat-k2.onnx');
  const refused = await runTrainer(['parity', '--deployed', dep, '--k', '2', '--encoder', 'concat', '--model', 'tiled', '--epochs', '1',
    '--out', tiled, ...common], { capture: true });
  t.equal(refused.code, 2, 'an over-budget architecture is refused');
  t.match(refused.stderr, /parity architecture tiled costs \d+ multiply-adds per query, 2\.00x the deployed model's \d+: a ParM parity model may cost at most 1\.0x/);
  t.match(refused.stderr, /--allow-costlier/);
  t.equal(refused.stderr.trim().split('\n').length, 1, 'in one line');
  t.notOk(existsSync(tiled), 'and nothing is written');
  await train('the same with --allow-costlier', ['parity', '--deployed', dep, '--k', '2', '--encoder', 'concat', '--model', 'tiled',
    '--allow-costlier', '--epochs', '1', '--out', tiled]);

  const card = (p: string) => JSON.parse(readFileSync(p.replace(/\.onnx$/, '.json'), 'utf8')) as Record<string, any>;
  t.match(card(tiled), { within_budget: false, parity_flops_ratio: 2 }, 'the costlier card says so');
  t.match(card(split), { within_budget: true, architecture: { kind: 'split', k: 3 }, dataset: { name: 'bars', classes: ['0', '1', '2', '3'] } });
  t.ok(card(split).parity_flops_ratio <= 1, `split flops ratio ${card(split).parity_flops_ratio} within budget`);
  t.equal(card(sum).parity_flops_ratio, 1, 'the deployed architecture costs exactly the deployed model');
  t.type(card(sum).parity_latency_ratio, 'number', 'the card has the latency ratio');
  t.type(card(dep).cost.macs, 'number', 'the deployed card has its multiply-adds');

  const m = await runTrainer(['manifest', '--models', models, '--default', 'bars-cnn'], { capture: true });
  t.equal(m.code, 0, 'manifest written');
  t.match(m.stdout, /left out bars\/cnn\/parity-concat-k2\.onnx: over the cost rule/);
  const manifest = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8'));
  t.same(manifest.deployments['bars-cnn'].parity.map((p: { k: number; encoder: string }) => `${p.encoder} k=${p.k}`), ['sum k=2', 'concat k=3'],
    'the over-budget model is left out of the ParM deployment');

  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((c: string) => { out.push(String(c)); return true; }) as typeof process.stdout.write;
  const evalDir = join(dir, 'eval');
  try {
    await main(['eval', '--models', models, '--dataset', data, '--json', '--quiet', '--latency-runs', '50', '--out', evalDir]);
  } finally {
    process.stdout.write = write;
  }
  t.notOk(process.exitCode, 'parm eval exits 0');
  const report = JSON.parse(out.join(''));
  t.equal(report.dataset.test_inputs, 400);
  t.equal(report.results.length, 2);
  for (const r of report.results) {
    t.match(r, { deployment: 'bars-cnn', within_budget: true, parity_flops_ratio: Number, parity_latency_ratio: Number });
    t.ok(r.degraded_accuracy > r.floor_majority_accuracy, `${r.encoder} k=${r.k}: degraded ${r.degraded_accuracy} above the majority floor`);
    // Python's figure on the same test groups, against the serving path's (onnxruntime + codec).
    t.ok(Math.abs(card(join(models, r.parity_model)).accuracy.degraded_test - r.degraded_accuracy) < 0.02, 'Python and serving path agree');
  }
  t.ok(report.deployments[0].deployed_accuracy > 0.8, `deployed accuracy ${report.deployments[0].deployed_accuracy}`);
  for (const f of ['eval.json', 'bars-cnn-overall.svg', 'bars-cnn-overall.png']) t.ok(existsSync(join(evalDir, f)), `${f} written`);
});

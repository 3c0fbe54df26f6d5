// The cost rule's counter (training/cost.py, `python3 -m training cost`) on small ONNX graphs whose
// multiply-adds are known by hand, and the TypeScript side that reads it (src/eval/cost.ts).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { countMacs, parityCost } from '../../src/eval/cost.js';
import { pythonExecutable, runTrainer } from '../../src/trainer.js';

const onnxOk = spawnSync(pythonExecutable(), ['-c', 'import onnx, numpy'], { stdio: 'ignore' }).status === 0;
const skip = onnxOk ? false : `${pythonExecutable()} cannot import onnx (apt-get install python3-onnx)`;

// x [N, 3, 8, 8] -> Conv 4x3x3x3, pads 1 -> [N, 4, 8, 8] -> Flatten [N, 256] -> Gemm with B [10, 256]
// (transB) -> [N, 10] -> MatMul with [10, 5] -> [N, 5]. At N = 1:
//   Conv   4 * 8 * 8 outputs x 3 * 3 * 3 fan-in = 6912
//   Gemm   1 x 256 x 10 = 2560
//   MatMul 1 x 10 x 5 = 50
// `wide` doubles the Conv's output channels: Conv 13824, Gemm 1 x 512 x 10 = 5120, MatMul 50.
const BUILD = `
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
def build(path, cout):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((cout, 3, 3, 3)).astype(np.float32), 'w')
    b = numpy_helper.from_array(rng.standard_normal((10, cout * 64)).astype(np.float32), 'b')
    m = numpy_helper.from_array(rng.standard_normal((10, 5)).astype(np.float32), 'm')
    nodes = [helper.make_node('Conv', ['x', 'w'], ['y'], pads=[1, 1, 1, 1]),
             helper.make_node('Flatten', ['y'], ['f']),
             helper.make_node('Gemm', ['f', 'b'], ['g'], transB=1),
             helper.make_node('MatMul', ['g', 'm'], ['out'])]
    g = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3, 8, 8])],
                          [helper.make_tensor_value_info('out', TensorProto.FLOAT, ['N', 5])], [w, b, m])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), path)
build(sys.argv[1], 4)
build(sys.argv[2], 8)
# A MatMul whose inner dimension is symbolic: its cost cannot be counted.
g = helper.make_graph([helper.make_node('MatMul', ['x', 'm'], ['out'])], 'g',
                      [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 'K']),
                       helper.make_tensor_value_info('m', TensorProto.FLOAT, ['K', 5])],
                      [helper.make_tensor_value_info('out', TensorProto.FLOAT, ['N', 5])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), sys.argv[3])
`;

t.test('multiply-adds of a Conv, a Gemm and a MatMul, counted by hand', { skip }, async (t) => {
  const dir = t.testdir({});
  const [small, wide, unknown] = ['small.onnx', 'wide.onnx', 'unknown.onnx'].map((f) => join(dir, f)) as [string, string, string];
  const built = spawnSync(pythonExecutable(), ['-c', BUILD, small, wide, unknown], { encoding: 'utf8' });
  t.equal(built.status, 0, `graphs built (${built.stderr})`);

  const run = await runTrainer(['cost', small, wide], { capture: true });
  t.equal(run.code, 0, run.stderr);
  const counts = JSON.parse(run.stdout) as Record<string, { macs: number; by_op: Record<string, number> }>;
  t.same(counts[small]!.by_op, { Conv: 6912, Gemm: 2560, MatMul: 50 });
  t.equal(counts[small]!.macs, 9522);
  t.same(counts[wide]!.by_op, { Conv: 13824, Gemm: 5120, MatMul: 50 });

  const macs = await countMacs([small, wide]);
  t.equal(macs.get(small), 9522, 'the TypeScript side reads the same count');
  const over = await parityCost(small, wide, { macs, runs: 20 });
  t.equal(over.parity_flops_ratio, 18994 / 9522);
  t.equal(over.within_budget, false, 'a parity model with more multiply-adds is over budget');
  t.ok(over.parity_latency_ratio > 0 && over.latency.runs === 20, 'latency ratio measured');
  const same = await parityCost(small, small, { macs, runs: 20 });
  t.equal(same.parity_flops_ratio, 1);
  t.equal(same.within_budget, true, 'equal cost is within budget');

  // A card written before the cost rule gets its fields from the graphs.
  writeFileSync(join(dir, 'wide.json'), JSON.stringify({ role: 'parity', deployed: 'small.onnx', accuracy: { degraded_test: 0.5 } }));
  const recost = await runTrainer(['cost', '--write-card', wide], { capture: true });
  t.equal(recost.code, 0, recost.stderr);
  const card = JSON.parse(readFileSync(join(dir, 'wide.json'), 'utf8'));
  t.match(card, { parity_flops_ratio: 18994 / 9522, within_budget: false, cost: { deployed_macs: 9522, parity_macs: 18994 },
    accuracy: { degraded_test: 0.5 } });

  const bad = await runTrainer(['cost', unknown], { capture: true });
  t.equal(bad.code, 2, 'an uncountable graph is an error, not a zero');
  t.match(bad.stderr, /cannot infer the shape of input A of MatMul/);
  t.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
});

// The bundled split parity models run one inner MLP on each of the k tiles stacked along the batch
// axis, so at batch 1 each Gemm has M = k: a counter that missed the stacking would report 1/k of
// the cost. Tiles (the concat grid of a 28x28 image): k = 2: 28x14 (392 inputs), k = 3: 28x10 (the
// widest of 9, 9, 10 columns; 280), k = 4: 14x14 (196), k = 8: 14x7 (98).
const models = join(import.meta.dirname, '..', '..', 'models', 'fashion-mnist', 'mlp');
const split = (k: number, inputs: number, h1: number, h2: number) => k * (inputs * h1 + h1 * h2 + h2 * 10);
t.test('the bundled split parity models, counted by hand, within the cost rule', { skip }, async (t) => {
  const cases: Array<[string, number]> = [
    ['parity-concat-k2.onnx', split(2, 392, 432, 216)], ['parity-concat-k3.onnx', split(3, 280, 376, 188)],
    ['parity-concat-k4.onnx', split(4, 196, 352, 176)], ['parity-concat-k8.onnx', split(8, 98, 276, 138)],
  ];
  const deployed = 784 * 512 + 512 * 256 + 256 * 10;
  const paths = [join(models, 'deployed.onnx'), ...cases.map(([f]) => join(models, f))];
  const macs = await countMacs(paths);
  t.equal(macs.get(paths[0]!), deployed, 'the deployed MLP 784-512-256-10');
  for (const [f, want] of cases) {
    t.equal(macs.get(join(models, f)), want, `${f}: ${want} multiply-adds`);
    t.ok(want / deployed <= 1, `${f}: flops ratio ${(want / deployed).toFixed(3)} <= 1`);
  }
});

// deploymentFromManifest (Contract 4's `bundled` shortcut) on a manifest written here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { bundledManifestPath, deploymentFromManifest } from '../../src/engine/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'parm-manifest-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const manifest = join(dir, 'manifest.json');
writeFileSync(
  manifest,
  JSON.stringify({
    version: 1,
    default: 'fm-mlp',
    deployments: {
      'fm-mlp': {
        dataset: 'fashion-mnist', model: 'mlp', deployed: 'fm/mlp/deployed.onnx',
        input: { name: 'input', shape: [-1, 1, 28, 28], datatype: 'FP32' },
        output: { name: 'logits', shape: [-1, 10], datatype: 'FP32' },
        parity: [
          { k: 2, encoder: 'sum', path: 'fm/mlp/parity-sum-k2.onnx' },
          { k: 4, encoder: 'sum', path: 'fm/mlp/parity-sum-k4.onnx' },
          { k: 2, encoder: 'concat', path: 'fm/mlp/parity-concat-k2.onnx' },
        ],
      },
    },
  }),
);

t.test('picks the parity models for k and encoder, with absolute paths', async (t) => {
  const o = deploymentFromManifest(manifest, 'fm-mlp', { k: 2, encoder: 'sum' });
  t.same(o, {
    name: 'fm-mlp', deployedModel: join(dir, 'fm/mlp/deployed.onnx'), parityModels: [{ path: join(dir, 'fm/mlp/parity-sum-k2.onnx') }],
    k: 2, encoder: 'sum', mode: 'parm',
  });
  t.equal(deploymentFromManifest(manifest, 'fm-mlp', { k: 2, encoder: 'concat' }).parityModels![0]!.path, join(dir, 'fm/mlp/parity-concat-k2.onnx'));
  t.equal(deploymentFromManifest(manifest, 'fm-mlp').k, 2, 'defaults: k = 2, sum');
  t.equal(deploymentFromManifest(manifest, 'fm-mlp').encoder, 'sum', 'no deployment encoder: sum');
});

t.test("a deployment's own encoder is its default; an asked one wins; a bad one is an error", async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'parm-manifest-enc-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const write = (encoder: unknown) => {
    const m = join(d, 'manifest.json');
    writeFileSync(m, JSON.stringify({ version: 1, default: 'a', deployments: { a: { deployed: 'a.onnx', encoder, parity: [{ k: 2, encoder: 'sum', path: 's.onnx' }, { k: 2, encoder: 'concat', path: 'c.onnx' }] } } }));
    return m;
  };
  const m = write('concat');
  t.equal(deploymentFromManifest(m, 'a').encoder, 'concat');
  t.equal(deploymentFromManifest(m, 'a').parityModels![0]!.path, join(d, 'c.onnx'));
  t.equal(deploymentFromManifest(m, 'a', { encoder: 'sum' }).parityModels![0]!.path, join(d, 's.onnx'));
  t.throws(() => deploymentFromManifest(write('xor'), 'a'), { code: 'PARM_ERR_ENGINE_CONFIG', message: /deployment a: encoder must be "sum" or "concat", got "xor"/ });
});

t.test('errors name what exists', async (t) => {
  t.throws(() => deploymentFromManifest(manifest, 'cifar'), { code: 'PARM_ERR_ENGINE_CONFIG', message: /no deployment 'cifar' .* \(has: fm-mlp\)/ });
  t.throws(() => deploymentFromManifest(manifest, 'fm-mlp', { k: 3 }), {
    code: 'PARM_ERR_ENGINE_CONFIG', message: /no parity model for k=3, encoder sum \(has: k=2 sum, k=4 sum, k=2 concat\)/,
  });
  t.throws(() => deploymentFromManifest(join(dir, 'missing.json'), 'fm-mlp'), { code: 'PARM_ERR_ENGINE_CONFIG', message: /cannot read the model manifest/ });
});

t.test('the bundled manifest is looked up in the package root', async (t) => {
  t.match(bundledManifestPath(), /\/models\/manifest\.json$/);
});

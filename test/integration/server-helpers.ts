// Shared by the server integration tests: which deployment to serve (the bundled models once they
// are in models/, else the fixture models), the direct onnxruntime-node reference, and inputs.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { bundledManifestPath, deploymentFromManifest, readManifest } from '../../src/engine/manifest.js';
import type { EngineOptions } from '../../src/engine/types.js';

const fixtures = fileURLToPath(new URL('../fixtures/models/', import.meta.url));

/** The bundled default deployment (k = 2, sum) when models/manifest.json exists, else the fixture MLP. */
export function servedDeployment(): EngineOptions {
  const manifest = bundledManifestPath();
  if (existsSync(manifest)) {
    return deploymentFromManifest(manifest, readManifest(manifest).default, { k: 2, encoder: 'sum' });
  }
  return {
    name: 'fixture-mlp',
    deployedModel: `${fixtures}mlp.onnx`,
    parityModels: [{ path: `${fixtures}mlp-parity-a.onnx` }],
    k: 2,
    encoder: 'sum',
    mode: 'parm',
  };
}

/** Deterministic pseudo-random images in [0, 1), `n` of them in one buffer (never zeros). */
export function images(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n * 784);
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** The deployed model run directly (one thread) on a batch: the reference answers. */
export async function direct(model: string, x: Float32Array): Promise<Float32Array> {
  let s = sessions.get(model);
  if (!s) {
    s = ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.set(model, s);
  }
  const out = await (await s).run({ input: new ort.Tensor('float32', x.slice(), [x.length / 784, 1, 28, 28]) });
  return Float32Array.from(out['logits']!.data as Float32Array);
}

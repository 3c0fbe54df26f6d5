// Shared by the engine integration tests: fixture paths, random inputs, and the fixture models
// run directly with onnxruntime-node (the independent reference the engine is checked against).
import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../fixtures/models/', import.meta.url));
export const MLP = `${dir}mlp.onnx`;
export const PARITY_A = `${dir}mlp-parity-a.onnx`;
export const PARITY_B = `${dir}mlp-parity-b.onnx`;
export const SLOW = `${dir}slow.onnx`;
export const E = 784;

/** Deterministic pseudo-random images in [0, 1) (never zeros). */
export function images(n: number, seed: number): Float32Array[] {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: E }, next));
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** Runs `model` on one image directly (single thread), as the reference. */
export async function direct(model: string, x: Float32Array): Promise<Float32Array> {
  let s = sessions.get(model);
  if (!s) {
    s = ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.set(model, s);
  }
  const out = await (await s).run({ input: new ort.Tensor('float32', x.slice(), [1, 1, 28, 28]) });
  return out['logits']!.data as Float32Array;
}

/** Float32 element-wise a*wa + b*wb, in JS (rounded after each operation, as Contract 2). */
export function axpby(a: Float32Array, wa: number, b: Float32Array, wb: number): Float32Array {
  return a.map((v, i) => Math.fround(Math.fround(v * wa) + Math.fround(b[i]! * wb)));
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

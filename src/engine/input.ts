// Checks one `infer` input against the model's input shape before anything reaches an instance.
// NaN policy: non-finite values are rejected, because a NaN or Inf in one query would poison the
// parity query and therefore the reconstruction of every other member of its coding group.
import { ParmError } from '../errors.js';
import type { TensorInput } from './types.js';

export interface CheckedInput {
  data: Float32Array;
  /** Number of samples (1 unless a batch shape [n, ...] was given). */
  n: number;
  /** True when the caller gave a leading batch dimension: the output keeps it. */
  batched: boolean;
}

function bad(message: string): never {
  throw new ParmError('PARM_ERR_ENGINE_INPUT', message);
}

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * `sample` is the per-sample shape (the model input shape without its batch dimension);
 * `firstNonFinite` is the codec's scan (the addon's SIMD kernel: no per-element loop here).
 */
export function checkInput(input: unknown, sample: readonly number[], maxSamples: number, firstNonFinite: (x: Float32Array) => number): CheckedInput {
  const elems = sample.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  let n = 1;
  let batched = false;
  if (input instanceof Float32Array) {
    if (input.length !== elems) bad(`input: expected ${elems} floats (one query of shape ${fmt(sample)}), got ${input.length}`);
    data = input;
  } else if (typeof input === 'object' && input !== null && 'data' in input && 'shape' in input) {
    const t = input as TensorInput;
    if (!(t.data instanceof Float32Array)) {
      const got = (t.data as object | null)?.constructor?.name ?? typeof t.data;
      bad(`input.data: expected a Float32Array, got ${got}`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      bad(`input.shape: expected an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
    }
    const shape = t.shape;
    if (shape.length === sample.length + 1) {
      batched = true;
      n = shape[0]!;
      if (n < 1 || n > maxSamples) bad(`input.shape: batch dimension must be in [1, ${maxSamples}], got ${n}`);
    }
    const rest = batched ? shape.slice(1) : shape;
    if (rest.length !== sample.length || rest.some((d, i) => d !== sample[i])) {
      bad(`input.shape: expected ${fmt(sample)} or [n, ${sample.join(', ')}], got ${fmt(shape)}`);
    }
    if (t.data.length !== n * elems) bad(`input.data: shape ${fmt(shape)} needs ${n * elems} floats, got ${t.data.length}`);
    data = t.data;
  } else {
    const got = (input as object | null)?.constructor?.name ?? typeof input;
    bad(`input: expected a Float32Array or { data: Float32Array, shape: number[] }, got ${got}`);
  }
  const at = firstNonFinite(data);
  if (at >= 0) bad(`input: element ${at} is ${data[at]}; non-finite inputs are rejected`);
  return { data, n, batched };
}

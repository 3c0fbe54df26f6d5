// Admission: the checks an `infer` call passes before the engine accepts it (state, load, options,
// input). A refused call rejects with a ParmError naming what is wrong; nothing reaches an instance.
import { ParmError } from '../errors.js';
import { validateDecode } from './decode-policy.js';
import { checkInput } from './input.js';
import type { DecodePolicy, InferOptions, TensorInput } from './types.js';
import { MAX_TIMER_MS, bad } from './validate.js';

/** Largest batch a single `infer` call may carry. */
export const MAX_SAMPLES_PER_QUERY = 65_536;

export interface AdmissionState {
  closing: boolean;
  ready: boolean;
  allDeployedGaveUp: boolean;
  pending: number;
  maxPending: number;
  defaultDecode: DecodePolicy;
  sample: readonly number[];
  firstNonFinite(x: Float32Array): number;
}

export interface Admitted {
  data: Float32Array;
  n: number;
  batched: boolean;
  decode: DecodePolicy;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

export function admit(input: Float32Array | TensorInput, options: InferOptions, s: AdmissionState): Admitted {
  if (s.closing) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'the engine is closing');
  if (!s.ready) throw new ParmError('PARM_ERR_ENGINE_NOT_READY', 'the engine is still loading its models');
  if (s.allDeployedGaveUp) throw new ParmError('PARM_ERR_ENGINE_MODEL', 'every deployed-model instance failed to restart');
  if (s.pending >= s.maxPending) throw new ParmError('PARM_ERR_ENGINE_OVERLOADED', `${s.pending} queries pending (maxPending ${s.maxPending})`);
  const o = options as InferOptions | null | undefined;
  const decode = validateDecode('options.decode', o?.decode, s.defaultDecode, 'PARM_ERR_ENGINE_INPUT');
  const timeoutMs = o?.timeoutMs;
  if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    bad('options.timeoutMs', `expected a number in (0, ${MAX_TIMER_MS}]`, timeoutMs, 'PARM_ERR_ENGINE_INPUT');
  }
  const signal = o?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) bad('options.signal', 'expected an AbortSignal', signal, 'PARM_ERR_ENGINE_INPUT');
  if (signal?.aborted) throw new ParmError('PARM_ERR_ENGINE_CANCELLED', 'the query was cancelled before it was accepted');
  try {
    const c = checkInput(input, s.sample, MAX_SAMPLES_PER_QUERY, s.firstNonFinite);
    return { ...c, decode, timeoutMs, signal };
  } catch (e) {
    if (e instanceof ParmError && e.code === 'PARM_ERR_CODEC_ARGUMENT') throw new ParmError('PARM_ERR_ENGINE_INPUT', e.message);
    throw e;
  }
}

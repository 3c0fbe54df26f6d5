// Admission: the checks an `infer` call passes before the engine accepts it (state, load, options,
// input). A refused call rejects with a ParmError naming what is wrong; nothing reaches an instance.
import { ParmError } from '../errors.js';
import { validateDecode } from './decode-policy.js';
import { checkInput } from './input.js';
import type { DecodePolicy, InferOptions, TensorInput } from './types.js';
import { MAX_TIMER_MS, bad } from './validate.js';

/** Largest batch a single `infer` call may carry. */
export const MAX_SAMPLES_PER_QUERY = 65_536;

export interface Admitted {
  data: Float32Array;
  n: number;
  batched: boolean;
  decode: DecodePolicy;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  /** The engine may keep `data` (InferOptions.transferInput). */
  transfer: boolean;
}

/** The engine's state as admission sees it, read at each call. */
export interface AdmissionView {
  readonly closing: boolean;
  /** The models have loaded (the pipeline exists). */
  readonly loaded: boolean;
  allDeployedGaveUp(): boolean;
  readonly pending: number;
}

export class Admission {
  constructor(
    private readonly maxPending: number,
    private readonly defaultDecode: DecodePolicy,
    /** One query's input shape (filled when the models have loaded). */
    private readonly sample: readonly number[],
    private readonly firstNonFinite: (x: Float32Array) => number,
  ) {}

  admit(input: Float32Array | TensorInput, options: InferOptions | undefined, s: AdmissionView): Admitted {
    if (s.closing) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'the engine is closing');
    if (!s.loaded) throw new ParmError('PARM_ERR_ENGINE_NOT_READY', 'the engine is still loading its models');
    if (s.allDeployedGaveUp()) throw new ParmError('PARM_ERR_ENGINE_MODEL', 'every deployed-model instance failed to restart');
    if (s.pending >= this.maxPending) throw new ParmError('PARM_ERR_ENGINE_OVERLOADED', `${s.pending} queries pending (maxPending ${this.maxPending})`);
    const o = options as InferOptions | null | undefined;
    const decode = o?.decode === undefined ? this.defaultDecode : validateDecode('options.decode', o.decode, this.defaultDecode, 'PARM_ERR_ENGINE_INPUT');
    const timeoutMs = o?.timeoutMs;
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
      bad('options.timeoutMs', `expected a number in (0, ${MAX_TIMER_MS}]`, timeoutMs, 'PARM_ERR_ENGINE_INPUT');
    }
    const signal = o?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) bad('options.signal', 'expected an AbortSignal', signal, 'PARM_ERR_ENGINE_INPUT');
    if (signal?.aborted) throw new ParmError('PARM_ERR_ENGINE_CANCELLED', 'the query was cancelled before it was accepted');
    const transfer = o?.transferInput;
    if (transfer !== undefined && typeof transfer !== 'boolean') bad('options.transferInput', 'expected a boolean', transfer, 'PARM_ERR_ENGINE_INPUT');
    try {
      const c = checkInput(input, this.sample, MAX_SAMPLES_PER_QUERY, this.firstNonFinite);
      return { data: c.data, n: c.n, batched: c.batched, decode, timeoutMs, signal, transfer: transfer === true };
    } catch (e) {
      if (e instanceof ParmError && e.code === 'PARM_ERR_CODEC_ARGUMENT') throw new ParmError('PARM_ERR_ENGINE_INPUT', e.message);
      throw e;
    }
  }
}

// Decode policies (when a reconstruction may answer a query), parsed and checked in one place for
// every way they arrive: EngineOptions / InferOptions objects, the CLI's text form, and the OIP
// request parameters parm_decode / parm_deadline_ms.
import { ParmError } from '../errors.js';
import type { DecodePolicy } from './types.js';
import { MAX_TIMER_MS, bad, isRecord, num } from './validate.js';

/** An options object ({ kind: 'first' } | { kind: 'deadline', waitMs }); `def` when undefined. */
export function validateDecode(field: string, v: unknown, def: DecodePolicy, code: 'PARM_ERR_ENGINE_CONFIG' | 'PARM_ERR_ENGINE_INPUT' = 'PARM_ERR_ENGINE_CONFIG'): DecodePolicy {
  if (v === undefined) return def;
  const d = v as DecodePolicy;
  if (isRecord(d) && d.kind === 'first') return { kind: 'first' };
  if (isRecord(d) && d.kind === 'deadline') return { kind: 'deadline', waitMs: num(`${field}.waitMs`, d.waitMs, NaN, 0, MAX_TIMER_MS, code) };
  return bad(field, "expected { kind: 'first' } or { kind: 'deadline', waitMs }", v, code);
}

/** The text form of the command line: `first` or `deadline:<ms>`. */
export function parseDecodePolicy(text: string, field = '--decode'): DecodePolicy {
  if (text === 'first') return { kind: 'first' };
  const m = /^deadline:(\d+(\.\d+)?)$/.exec(text);
  if (m && Number(m[1]) <= MAX_TIMER_MS) return { kind: 'deadline', waitMs: Number(m[1]) };
  throw new ParmError('PARM_ERR_CLI_USAGE', `${field} must be 'first' or 'deadline:<ms>' with ms <= ${MAX_TIMER_MS}, got '${text}'`);
}

/**
 * The OIP request parameters `parm_decode` ("first" | "deadline") and `parm_deadline_ms`
 * (a deadline alone implies "deadline"); undefined when neither is set. Errors are
 * PARM_ERR_SERVER_BAD_REQUEST naming the parameter.
 */
export function decodePolicyFromParameters(params: Readonly<Record<string, unknown>>): DecodePolicy | undefined {
  const policy = params['parm_decode'];
  const deadline = params['parm_deadline_ms'];
  const badParam = (m: string): never => {
    throw new ParmError('PARM_ERR_SERVER_BAD_REQUEST', m);
  };
  if (policy !== undefined && policy !== 'first' && policy !== 'deadline') {
    badParam(`parameters.parm_decode must be "first" or "deadline", got ${JSON.stringify(policy)}`);
  }
  if (deadline !== undefined && (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline < 0 || deadline > MAX_TIMER_MS)) {
    badParam(`parameters.parm_deadline_ms must be a number in [0, ${MAX_TIMER_MS}], got ${JSON.stringify(deadline)}`);
  }
  if (policy === 'first') {
    if (deadline !== undefined) badParam('parameters.parm_deadline_ms needs parm_decode "deadline" (or no parm_decode)');
    return { kind: 'first' };
  }
  if (policy === 'deadline' || deadline !== undefined) {
    if (deadline === undefined) badParam('parameters.parm_decode "deadline" needs parm_deadline_ms');
    return { kind: 'deadline', waitMs: deadline as number };
  }
  return undefined;
}

// Injected faults: which instances a FaultSpec names, its validation (options objects and the
// command line's text form), and the faults each instance applies itself.
import { ParmError } from '../errors.js';
import type { Disturbance, InstanceFault } from './instance-messages.js';
import type { FaultSpec } from './types.js';
import { bad, int, isRecord, num, oneOf } from './validate.js';

/** `deployed-<i>`, `parity-<i>`, a bare number (deployed-<n>) or `*` (every deployed instance). */
export const FAULT_INSTANCE_PATTERN = /^(\*|\d+|deployed-\d+|parity-\d+)$/;
const INSTANCE_HELP = "expected 'deployed-<i>', 'parity-<i>', a number or '*'";

/** Validates FaultSpec objects (EngineOptions.faults, setFaults). */
export function validateFaults(field: string, v: unknown): FaultSpec[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(field, 'expected an array of faults', v);
  return v.map((f: unknown, i: number): FaultSpec => {
    const at = `${field}[${i}]`;
    if (!isRecord(f)) return bad(at, 'expected a fault object', f);
    const inst = typeof f.instance === 'number' ? String(f.instance) : f.instance;
    if (typeof inst !== 'string' || !FAULT_INSTANCE_PATTERN.test(inst)) bad(`${at}.instance`, INSTANCE_HELP, f.instance);
    switch (f.kind) {
      case 'delay':
        return {
          kind: 'delay',
          instance: inst,
          ms: num(`${at}.ms`, f.ms, NaN, 0),
          probability: num(`${at}.probability`, f.probability, 1, 0, 1),
          distribution: oneOf(`${at}.distribution`, f.distribution, ['fixed', 'pareto'] as const, 'fixed'),
        };
      case 'contention': {
        const periodMs = num(`${at}.periodMs`, f.periodMs, NaN, 1);
        return { kind: 'contention', instance: inst, busyMs: num(`${at}.busyMs`, f.busyMs, NaN, 0, periodMs), periodMs };
      }
      case 'crash':
        return { kind: 'crash', instance: inst, afterQueries: int(`${at}.afterQueries`, f.afterQueries, NaN, 0) };
      case 'hang':
        return { kind: 'hang', instance: inst };
      default:
        return bad(`${at}.kind`, 'expected delay, contention, crash or hang', f.kind);
    }
  });
}

/**
 * The command line's text form (`--fault SPEC`): `delay:<instance>:<ms>[:<probability>]`,
 * `crash:<instance>:<after-n-queries>`, `hang:<instance>`, `contention:<instance>:<busy-ms>:<period-ms>`.
 * Errors are PARM_ERR_CLI_USAGE naming the spec.
 */
export function parseFaultSpec(spec: string): FaultSpec {
  const usage = (m: string): never => {
    throw new ParmError('PARM_ERR_CLI_USAGE', `--fault ${spec}: ${m}`);
  };
  const parts = spec.split(':');
  const instance = (s: string | undefined): string =>
    s !== undefined && FAULT_INSTANCE_PATTERN.test(s) ? s : usage(`instance must be deployed-<i>, parity-<i>, a number (deployed-<n>) or *, got '${s ?? ''}'`);
  const number = (what: string, s: string | undefined, o: { integer?: boolean; min?: number; max?: number } = {}): number => {
    const n = s === undefined || s.trim() === '' ? NaN : Number(s);
    if (!Number.isFinite(n) || (o.integer && !Number.isInteger(n)) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
      const range = [o.integer ? 'an integer' : 'a number', o.min !== undefined ? `>= ${o.min}` : '', o.max !== undefined ? `<= ${o.max}` : ''];
      usage(`${what} must be ${range.filter(Boolean).join(' ')}, got '${s ?? ''}'`);
    }
    return n;
  };
  switch (parts[0]) {
    case 'delay': {
      if (parts.length < 3 || parts.length > 4) usage('expected delay:<instance>:<ms>[:<probability>]');
      const f: FaultSpec = { kind: 'delay', instance: instance(parts[1]), ms: number('ms', parts[2], { min: 0 }) };
      if (parts[3] !== undefined) f.probability = number('probability', parts[3], { min: 0, max: 1 });
      return f;
    }
    case 'crash':
      if (parts.length !== 3) usage('expected crash:<instance>:<after-n-queries>');
      return { kind: 'crash', instance: instance(parts[1]), afterQueries: number('after-n-queries', parts[2], { integer: true, min: 0 }) };
    case 'hang':
      if (parts.length !== 2) usage('expected hang:<instance>');
      return { kind: 'hang', instance: instance(parts[1]) };
    case 'contention':
      if (parts.length !== 4) usage('expected contention:<instance>:<busy-ms>:<period-ms>');
      return {
        kind: 'contention',
        instance: instance(parts[1]),
        busyMs: number('busy-ms', parts[2], { min: 0 }),
        periodMs: number('period-ms', parts[3], { min: 1 }),
      };
    default:
      return usage(`unknown fault '${parts[0]}' (delay, crash, hang, contention)`);
  }
}

/** Whether a spec's instance pattern names this instance. */
export function faultTargets(pattern: string, id: string, role: 'deployed' | 'parity'): boolean {
  if (pattern === '*') return role === 'deployed';
  return (/^\d+$/.test(pattern) ? `deployed-${pattern}` : pattern) === id;
}

/** The faults instance `id` applies, in the form it applies them. */
export function faultsFor(specs: readonly FaultSpec[], id: string, role: 'deployed' | 'parity'): InstanceFault[] {
  const out: InstanceFault[] = [];
  for (const f of specs) {
    if (!faultTargets(f.instance, id, role)) continue;
    switch (f.kind) {
      case 'delay':
        out.push({ kind: 'delay', ms: f.ms, probability: f.probability ?? 1, distribution: f.distribution ?? 'fixed' });
        break;
      case 'contention':
        out.push({ kind: 'contention', busyMs: f.busyMs, periodMs: f.periodMs });
        break;
      case 'crash':
        out.push({ kind: 'crash', afterQueries: f.afterQueries });
        break;
      case 'hang':
        out.push({ kind: 'hang' });
        break;
    }
  }
  return out;
}

/**
 * The delay (ms) an instance adds to the run it starts now: each delay fault fires with its
 * probability (Pareto with scale `ms` and shape 2: finite mean 2 ms, heavy tail, capped at 100x
 * the scale), plus a background `delay` disturbance active now.
 */
export function faultDelayMs(faults: readonly InstanceFault[], disturbance: (Disturbance & { until: number }) | null, now: number, random: () => number = Math.random): number {
  let ms = 0;
  for (const f of faults) {
    if (f.kind !== 'delay' || random() >= f.probability) continue;
    ms += f.distribution === 'pareto' ? Math.min(f.ms / Math.sqrt(1 - random()), 100 * f.ms) : f.ms;
  }
  if (disturbance && disturbance.kind === 'delay' && now < disturbance.until) ms += disturbance.intensity;
  return ms;
}

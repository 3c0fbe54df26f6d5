// The `--fault SPEC` text form of a fault (the CLI's, docs/protocol.md "Starting"), parsed into the
// engine's FaultSpec. Kept apart so that one module owns the syntax: the engine validates the
// resulting objects (src/engine/options.ts), this file only reads the text.
import { ParmError } from '../errors.js';
import type { FaultSpec } from '../engine/types.js';

function bad(message: string): never {
  throw new ParmError('PARM_ERR_SERVER_CONFIG', message);
}

const INSTANCE_RE = /^(\*|\d+|deployed-\d+|parity-\d+)$/;

function instanceOf(spec: string, s: string | undefined): string {
  if (s === undefined || !INSTANCE_RE.test(s)) {
    bad(`--fault ${spec}: instance must be deployed-<i>, parity-<i>, a number (deployed-<n>) or *, got '${s ?? ''}'`);
  }
  return s;
}

function numberOf(spec: string, what: string, s: string | undefined, opts: { integer?: boolean; min?: number; max?: number } = {}): number {
  const n = s === undefined || s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    const range = [opts.integer ? 'an integer' : 'a number', opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : '']
      .filter(Boolean)
      .join(' ');
    bad(`--fault ${spec}: ${what} must be ${range}, got '${s ?? ''}'`);
  }
  return n;
}

/**
 * Parses one --fault SPEC:
 * `delay:<instance>:<ms>[:<probability>]`, `crash:<instance>:<after-n-queries>`, `hang:<instance>`,
 * `contention:<instance>:<busy-ms>:<period-ms>`.
 */
export function parseFaultSpec(spec: string): FaultSpec {
  const parts = spec.split(':');
  const kind = parts[0];
  switch (kind) {
    case 'delay': {
      if (parts.length < 3 || parts.length > 4) bad(`--fault ${spec}: expected delay:<instance>:<ms>[:<probability>]`);
      const f: FaultSpec = { kind: 'delay', instance: instanceOf(spec, parts[1]), ms: numberOf(spec, 'ms', parts[2], { min: 0 }) };
      if (parts[3] !== undefined) f.probability = numberOf(spec, 'probability', parts[3], { min: 0, max: 1 });
      return f;
    }
    case 'crash':
      if (parts.length !== 3) bad(`--fault ${spec}: expected crash:<instance>:<after-n-queries>`);
      return { kind: 'crash', instance: instanceOf(spec, parts[1]), afterQueries: numberOf(spec, 'after-n-queries', parts[2], { integer: true, min: 0 }) };
    case 'hang':
      if (parts.length !== 2) bad(`--fault ${spec}: expected hang:<instance>`);
      return { kind: 'hang', instance: instanceOf(spec, parts[1]) };
    case 'contention':
      if (parts.length !== 4) bad(`--fault ${spec}: expected contention:<instance>:<busy-ms>:<period-ms>`);
      return {
        kind: 'contention',
        instance: instanceOf(spec, parts[1]),
        busyMs: numberOf(spec, 'busy-ms', parts[2], { min: 0 }),
        periodMs: numberOf(spec, 'period-ms', parts[3], { min: 1 }),
      };
    default:
      return bad(`--fault ${spec}: unknown fault '${kind}' (delay, crash, hang, contention)`);
  }
}

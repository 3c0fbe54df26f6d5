// The engine's option checks, with one message format: "<field>: <what is wrong> (got <value>)",
// thrown as ParmError PARM_ERR_ENGINE_CONFIG (or the code a caller passes, e.g. for per-query input).
import { ParmError, type ErrorCode } from '../errors.js';

/** Largest delay a Node timer honours; Node runs longer ones after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function shown(got: unknown): string {
  try {
    return JSON.stringify(got) ?? String(got);
  } catch {
    return String(got);
  }
}

export function bad(field: string, what: string, got: unknown, code: ErrorCode = 'PARM_ERR_ENGINE_CONFIG'): never {
  throw new ParmError(code, `${field}: ${what} (got ${shown(got)})`);
}

/** `def` NaN marks a required field. */
export function int(field: string, v: unknown, def: number, min: number, max = Number.MAX_SAFE_INTEGER, code?: ErrorCode): number {
  if (v === undefined && !Number.isNaN(def)) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(field, `expected an integer in [${min}, ${max}]`, v, code);
  return v;
}

export function num(field: string, v: unknown, def: number, min: number, max = Number.MAX_VALUE, code?: ErrorCode): number {
  if (v === undefined && !Number.isNaN(def)) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) bad(field, `expected a number in [${min}, ${max}]`, v, code);
  return v;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!allowed.includes(v as T)) bad(field, `expected one of ${allowed.join(', ')}`, v);
  return v as T;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Levenshtein distance, for "did you mean" suggestions on misspelt keys. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The known key closest to `key`, if it is close enough to be a likely misspelling. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** Rejects keys of `obj` not in `known`, naming the key and the closest known one. */
export function rejectUnknownKeys(where: string, obj: Record<string, unknown>, known: readonly string[], code: ErrorCode = 'PARM_ERR_ENGINE_CONFIG'): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    throw new ParmError(code, `${where}${where ? '.' : ''}${key}: unknown option${near ? ` (did you mean '${near}'?)` : ''}; known: ${known.join(', ')}`);
  }
}

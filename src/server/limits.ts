// What one client may make the server hold, with the defaults, and the one validator of those
// limits: the config file's `limits`, the `parm serve` flags and startServer's options all pass
// through the same rule per limit.
import { ParmError } from '../errors.js';

/** What one client may make the server hold. docs/protocol.md lists each with its default. */
export interface ServerLimits {
  /** Largest HTTP request body (413 beyond). */
  maxBodyBytes: number;
  /** Largest WebSocket message: close 1009 with a reason beyond it; beyond twice this uWS drops the connection unread. */
  maxMessageBytes: number;
  /** Largest leading (batch) dimension in one request. */
  maxBatch: number;
  /** Requests accepted and not yet answered on one WebSocket connection; more get an error answer. */
  maxInFlightPerConnection: number;
  /** Bytes queued to a WebSocket client above which the server stops starting its new requests. */
  wsBackpressureBytes: number;
  /** Bytes queued to a WebSocket client above which the server closes it (1008): it is not reading. */
  wsMaxBackpressureBytes: number;
  /** Seconds without traffic before a WebSocket is closed (uWS rounds to multiples of 4; 0 disables). */
  idleTimeoutSec: number;
  /** Engine timeout for a request that does not set parm_timeout_ms. */
  requestTimeoutMs: number;
  /** Graceful shutdown: how long to wait for in-flight requests before closing anyway. */
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024,
  maxBatch: 1024,
  maxInFlightPerConnection: 64,
  wsBackpressureBytes: 1024 * 1024,
  wsMaxBackpressureBytes: 8 * 1024 * 1024,
  idleTimeoutSec: 120,
  requestTimeoutMs: 30_000,
  drainTimeoutMs: 10_000,
};

/**
 * Rules beyond "a number >= 0": values uWebSockets.js would abort the process on (it does not
 * throw for these), or that make no sense. Each returns what is wrong, or undefined.
 */
const RULES: { readonly [K in keyof ServerLimits]?: (v: number) => string | undefined } = {
  idleTimeoutSec: (v) => (v !== 0 && (v < 8 || v > 960) ? `must be 0 (off) or in [8, 960], got ${v}` : undefined),
  maxMessageBytes: (v) => (v < 1024 || v > 2 ** 30 ? `must be in [1024, 2^30], got ${v}` : undefined),
  maxBodyBytes: (v) => (v < 1024 ? `must be >= 1024, got ${v}` : undefined),
  maxInFlightPerConnection: (v) => (v < 1 ? `must be >= 1, got ${v}` : undefined),
  maxBatch: (v) => (v < 1 ? `must be >= 1, got ${v}` : undefined),
};

export function isLimitName(name: string): name is keyof ServerLimits {
  return Object.hasOwn(DEFAULT_LIMITS, name);
}

/** What is wrong with one limit's value (e.g. "must be >= 1, got 0"), or undefined when it is valid. */
export function limitProblem(name: keyof ServerLimits, v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return `must be a number >= 0, got ${JSON.stringify(v)}`;
  return RULES[name]?.(v);
}

function fail(message: string): never {
  throw new ParmError('PARM_ERR_SERVER_CONFIG', message);
}

/** Validates a partial limits object (the config file's `limits`): known names, each value by its rule. */
export function parseLimits(v: unknown, where: string): Partial<ServerLimits> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${where}: limits must be an object`);
  const out: Partial<ServerLimits> = {};
  for (const [name, value] of Object.entries(v)) {
    if (!isLimitName(name)) fail(`${where}: unknown limit '${name}' (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    const problem = limitProblem(name, value);
    if (problem) fail(`${where}: limits.${name} ${problem}`);
    out[name] = value as number;
  }
  return out;
}

/** Validates a complete limits object: every value by its rule, then the rules between limits. */
export function checkLimits(l: ServerLimits): ServerLimits {
  for (const [name, value] of Object.entries(l)) {
    const problem = limitProblem(name as keyof ServerLimits, value);
    if (problem) fail(`limits.${name} ${problem}`);
  }
  if (l.wsMaxBackpressureBytes < l.wsBackpressureBytes) fail('limits.wsMaxBackpressureBytes must be >= wsBackpressureBytes');
  return l;
}

/** The limits a server runs with: the defaults, overridden by `partial`, validated. */
export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  return checkLimits({ ...DEFAULT_LIMITS, ...partial });
}

// Validates EngineOptions once, at the edge, and fills every default (one message format:
// "<field>: <what is wrong> (got <value>)", code PARM_ERR_ENGINE_CONFIG; unknown keys are errors
// that name the closest known key).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateDecode } from './decode-policy.js';
import { validateFaults } from './faults.js';
import type { BackgroundLoadSpec, BatchingOptions, DecodePolicy, EncoderKind, EngineOptions, FaultSpec, Mode } from './types.js';
import { MAX_TIMER_MS, bad, int, isRecord, num, oneOf, rejectUnknownKeys } from './validate.js';

export interface ResolvedOptions {
  name: string;
  version: string;
  deployedModel: string;
  parityModels: { path: string; coefficients: number[] }[];
  k: number;
  encoder: EncoderKind;
  mode: Mode;
  instances: number;
  parityInstances: number;
  isolation: 'thread' | 'process';
  threadsPerSession: number;
  balancing: 'shared-queue' | 'round-robin';
  groupWaitMs: number;
  decode: DecodePolicy;
  batching: BatchingOptions | false;
  hedgeDelayMs: number;
  faults: FaultSpec[];
  background: BackgroundLoadSpec | undefined;
  maxPending: number;
  partialGroup: 'replicate' | 'unprotected';
  /** undefined: adaptive (hang-detector.ts). */
  hangTimeoutMs: number | undefined;
  heartbeatMs: number;
  maxRetries: number;
  closeTimeoutMs: number;
  parityNice: number;
}

/** Instances per role: a fleet of remote (or simulated) instances can be large. */
export const MAX_INSTANCES = 65_536;

export const DEFAULTS = {
  version: '1',
  k: 2,
  encoder: 'sum' as EncoderKind,
  instances: 2,
  isolation: 'thread' as const,
  threadsPerSession: 1,
  balancing: 'shared-queue' as const,
  groupWaitMs: 5,
  hedgeDelayMs: 10,
  maxPending: 10_000,
  partialGroup: 'replicate' as const,
  heartbeatMs: 250,
  maxRetries: 3,
  closeTimeoutMs: 10_000,
  parityNice: 10,
};

function modelPath(field: string, v: unknown, baseDir: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(field, 'expected a path to an ONNX file', v);
  const p = resolve(baseDir, v);
  if (!existsSync(p)) bad(field, `no such file ${p}`, v);
  return p;
}

/** Every EngineOptions key, for the unknown-key check (a misspelt option is an error, not a default). */
export const ENGINE_OPTION_KEYS: readonly (keyof EngineOptions)[] = [
  'name', 'version', 'deployedModel', 'parityModels', 'k', 'encoder', 'mode', 'instances', 'parityInstances', 'isolation',
  'threadsPerSession', 'balancing', 'groupWaitMs', 'decode', 'batching', 'hedgeDelayMs', 'faults', 'background', 'parityNice',
  'maxPending', 'partialGroup', 'hangTimeoutMs', 'heartbeatMs', 'maxRetries', 'closeTimeoutMs',
];

function validateBackground(v: unknown): BackgroundLoadSpec | undefined {
  if (v === undefined) return undefined;
  const b = v as BackgroundLoadSpec;
  if (!isRecord(b)) bad('background', 'expected a BackgroundLoadSpec object', v);
  rejectUnknownKeys('background', b, ['seed', 'kind', 'width', 'periodMs', 'duty', 'intensity', 'targets']);
  const kind = oneOf('background.kind', b.kind, ['contention', 'delay'] as const, 'contention');
  return {
    seed: int('background.seed', b.seed, NaN, -(2 ** 31), 2 ** 31 - 1),
    kind,
    width: int('background.width', b.width, NaN, 1, 2) as 1 | 2,
    periodMs: num('background.periodMs', b.periodMs, NaN, 1),
    duty: num('background.duty', b.duty, NaN, Number.MIN_VALUE, 1),
    intensity: kind === 'contention' ? num('background.intensity', b.intensity, NaN, 0, 1) : num('background.intensity', b.intensity, NaN, 0),
    targets: oneOf('background.targets', b.targets, ['all', 'deployed'] as const, 'all'),
  };
}

/** `baseDir` resolves relative model paths (the serve config's directory; cwd otherwise). */
export function resolveOptions(o: EngineOptions, baseDir = process.cwd()): ResolvedOptions {
  if (!isRecord(o)) bad('options', 'expected an EngineOptions object', o);
  rejectUnknownKeys('', o, ENGINE_OPTION_KEYS);
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(o.name)) bad('name', 'expected a non-empty name of [A-Za-z0-9_.-]', o.name);
  const k = int('k', o.k, DEFAULTS.k, 1, 64);
  const encoder = oneOf('encoder', o.encoder, ['sum', 'concat'] as const, DEFAULTS.encoder);
  if (o.parityModels !== undefined && !Array.isArray(o.parityModels)) bad('parityModels', 'expected an array', o.parityModels);
  const parityModels = (o.parityModels ?? []).map((p, i) => {
    if (!isRecord(p)) bad(`parityModels[${i}]`, 'expected { path, coefficients? }', p);
    rejectUnknownKeys(`parityModels[${i}]`, p, ['path', 'coefficients']);
    const path = modelPath(`parityModels[${i}].path`, p.path, baseDir);
    const c = p.coefficients ?? new Array<number>(k).fill(1);
    if (!Array.isArray(c) || c.length !== k || !c.every((x) => typeof x === 'number' && Number.isFinite(x) && x !== 0)) {
      bad(`parityModels[${i}].coefficients`, `expected ${k} finite non-zero numbers (one per group member)`, p.coefficients);
    }
    if (encoder === 'concat' && !c.every((x) => x === 1)) bad(`parityModels[${i}].coefficients`, 'the concat encoder has no weights: only ones', c);
    return { path, coefficients: c.slice() };
  });
  const mode = oneOf('mode', o.mode, ['none', 'equal-resources', 'hedged', 'parm'] as const, parityModels.length > 0 ? 'parm' : 'none');
  // equal-resources and hedged size themselves as parm would (m + r x parityInstances, r >= 1).
  if (mode === 'parm' && parityModels.length === 0) bad('parityModels', "mode 'parm' needs at least one parity model", o.parityModels);
  if (encoder === 'concat' && parityModels.length > 1) bad('parityModels', 'the concat encoder supports r = 1 only', parityModels.length);
  const instances = int('instances', o.instances, DEFAULTS.instances, 1, MAX_INSTANCES);
  let batching: BatchingOptions | false = false;
  if (o.batching !== undefined && o.batching !== false) {
    const b = o.batching;
    if (!isRecord(b)) bad('batching', 'expected { maxBatch, maxDelayMs } or false', b);
    rejectUnknownKeys('batching', b, ['maxBatch', 'maxDelayMs']);
    batching = { maxBatch: int('batching.maxBatch', b.maxBatch, NaN, 1, 4096), maxDelayMs: num('batching.maxDelayMs', b.maxDelayMs, NaN, 0, MAX_TIMER_MS) };
  }
  return {
    name: o.name,
    version: typeof o.version === 'string' && o.version.length > 0 ? o.version : DEFAULTS.version,
    deployedModel: modelPath('deployedModel', o.deployedModel, baseDir),
    parityModels,
    k,
    encoder,
    mode,
    instances,
    parityInstances: int('parityInstances', o.parityInstances, Math.ceil(instances / k), 1, MAX_INSTANCES),
    isolation: oneOf('isolation', o.isolation, ['thread', 'process'] as const, DEFAULTS.isolation),
    threadsPerSession: int('threadsPerSession', o.threadsPerSession, DEFAULTS.threadsPerSession, 1, 256),
    balancing: oneOf('balancing', o.balancing, ['shared-queue', 'round-robin'] as const, DEFAULTS.balancing),
    groupWaitMs: num('groupWaitMs', o.groupWaitMs, DEFAULTS.groupWaitMs, 0, MAX_TIMER_MS),
    decode: validateDecode('decode', o.decode, { kind: 'first' }),
    batching,
    hedgeDelayMs: num('hedgeDelayMs', o.hedgeDelayMs, DEFAULTS.hedgeDelayMs, 0, MAX_TIMER_MS),
    faults: validateFaults('faults', o.faults),
    background: validateBackground(o.background),
    maxPending: int('maxPending', o.maxPending, DEFAULTS.maxPending, 1),
    partialGroup: oneOf('partialGroup', o.partialGroup, ['replicate', 'unprotected'] as const, DEFAULTS.partialGroup),
    hangTimeoutMs: o.hangTimeoutMs === undefined ? undefined : num('hangTimeoutMs', o.hangTimeoutMs, NaN, 10, MAX_TIMER_MS),
    heartbeatMs: num('heartbeatMs', o.heartbeatMs, DEFAULTS.heartbeatMs, 1, MAX_TIMER_MS),
    maxRetries: int('maxRetries', o.maxRetries, DEFAULTS.maxRetries, 0, 100),
    closeTimeoutMs: num('closeTimeoutMs', o.closeTimeoutMs, DEFAULTS.closeTimeoutMs, 0, MAX_TIMER_MS),
    parityNice: int('parityNice', o.parityNice, DEFAULTS.parityNice, 0, 19),
  };
}

/** Deployed-model instances a mode runs: the baselines with redundancy get parm's total count. */
export function deployedInstanceCount(o: Pick<ResolvedOptions, 'mode' | 'instances' | 'parityInstances' | 'parityModels'>): number {
  const r = Math.max(1, o.parityModels.length);
  return o.mode === 'equal-resources' || o.mode === 'hedged' ? o.instances + r * o.parityInstances : o.instances;
}

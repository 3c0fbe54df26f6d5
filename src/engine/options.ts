// Validates EngineOptions once, at the edge, and fills every default (one message format:
// "<field>: <what is wrong> (got <value>)", code PARM_ERR_ENGINE_CONFIG; unknown keys are errors
// that name the closest known key).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { validateDecode } from './decode-policy.js';
import { validateFaults } from './faults.js';
import { parseModelUrl, type RemoteBackend } from './remote-instance.js';
import type { BackgroundLoadSpec, BatchingOptions, DecodePolicy, EncoderKind, EngineOptions, FaultSpec, Mode } from './types.js';
import { MAX_TIMER_MS, bad, int, isRecord, num, oneOf, rejectUnknownKeys } from './validate.js';

export interface ResolvedOptions {
  name: string;
  version: string;
  /** Local deployed instances run this file; undefined when the deployed instances are remote. */
  deployedModel: string | undefined;
  /** Remote deployed instances, one per entry; undefined for local ones. */
  deployedBackends: RemoteBackend[] | undefined;
  /** Per parity row: a local file or remote instances (exactly one), and its coefficients. */
  parityModels: { path: string | undefined; backends: RemoteBackend[] | undefined; coefficients: number[] }[];
  k: number;
  encoder: EncoderKind;
  mode: Mode;
  instances: number;
  parityInstances: number;
  isolation: 'thread' | 'process';
  threadsPerSession: number;
  balancing: 'shared-queue' | 'round-robin';
  /** undefined: warm first for pools of local instances, least recent first for remote ones. */
  warmFirst: boolean | undefined;
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
  /** undefined: adaptive (parity-start.ts). */
  parityDeferMs: number | undefined;
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

/** Remote-instance defaults (BackendSpec). */
export const BACKEND_DEFAULTS = { concurrency: 1, connectTimeoutMs: 1000 };

function backends(field: string, v: unknown): RemoteBackend[] {
  if (!Array.isArray(v) || v.length === 0) bad(field, 'expected a non-empty array of model endpoint URLs (http://HOST:PORT/v2/models/NAME)', v);
  return v.map((b: unknown, i: number): RemoteBackend => {
    const at = `${field}[${i}]`;
    const spec: Record<string, unknown> = typeof b === 'string' ? { url: b } : isRecord(b) ? b : bad(at, 'expected a URL or { url, concurrency?, connectTimeoutMs?, requestTimeoutMs? }', b);
    rejectUnknownKeys(at, spec, ['url', 'concurrency', 'connectTimeoutMs', 'requestTimeoutMs']);
    if (typeof spec.url !== 'string') bad(`${at}.url`, 'expected a model endpoint URL', spec.url);
    try {
      parseModelUrl(spec.url);
    } catch (e) {
      bad(typeof b === 'string' ? at : `${at}.url`, (e as Error).message, spec.url);
    }
    return {
      url: spec.url.replace(/\/+$/, ''),
      concurrency: int(`${at}.concurrency`, spec.concurrency, BACKEND_DEFAULTS.concurrency, 1, 1024),
      connectTimeoutMs: num(`${at}.connectTimeoutMs`, spec.connectTimeoutMs, BACKEND_DEFAULTS.connectTimeoutMs, 1, MAX_TIMER_MS),
      requestTimeoutMs: spec.requestTimeoutMs === undefined ? undefined : num(`${at}.requestTimeoutMs`, spec.requestTimeoutMs, NaN, 1, MAX_TIMER_MS),
    };
  });
}

function modelPath(field: string, v: unknown, baseDir: string): string {
  if (typeof v !== 'string' || v.length === 0) bad(field, 'expected a path to an ONNX file', v);
  const p = resolve(baseDir, v);
  if (!existsSync(p)) bad(field, `no such file ${p}`, v);
  return p;
}

/** Every EngineOptions key, for the unknown-key check (a misspelt option is an error, not a default). */
export const ENGINE_OPTION_KEYS: readonly (keyof EngineOptions)[] = [
  'name', 'version', 'deployedModel', 'deployedBackends', 'parityModels', 'k', 'encoder', 'mode', 'instances', 'parityInstances', 'isolation',
  'threadsPerSession', 'balancing', 'warmFirst', 'groupWaitMs', 'decode', 'batching', 'hedgeDelayMs', 'faults', 'background', 'parityNice',
  'maxPending', 'partialGroup', 'hangTimeoutMs', 'heartbeatMs', 'maxRetries', 'closeTimeoutMs', 'parityDeferMs',
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
    if (!isRecord(p)) bad(`parityModels[${i}]`, 'expected { path | backends, coefficients? }', p);
    rejectUnknownKeys(`parityModels[${i}]`, p, ['path', 'backends', 'coefficients']);
    if ((p.path === undefined) === (p.backends === undefined)) bad(`parityModels[${i}]`, 'expected exactly one of path (a local ONNX file) and backends (remote instances)', p);
    const path = p.path === undefined ? undefined : modelPath(`parityModels[${i}].path`, p.path, baseDir);
    const remote = p.backends === undefined ? undefined : backends(`parityModels[${i}].backends`, p.backends);
    const c = p.coefficients ?? new Array<number>(k).fill(1);
    if (!Array.isArray(c) || c.length !== k || !c.every((x) => typeof x === 'number' && Number.isFinite(x) && x !== 0)) {
      bad(`parityModels[${i}].coefficients`, `expected ${k} finite non-zero numbers (one per group member)`, p.coefficients);
    }
    if (encoder === 'concat' && !c.every((x) => x === 1)) bad(`parityModels[${i}].coefficients`, 'the concat encoder has no weights: only ones', c);
    return { path, backends: remote, coefficients: c.slice() };
  });
  if ((o.deployedModel === undefined) === (o.deployedBackends === undefined)) {
    bad('deployedModel', 'expected exactly one of deployedModel (a local ONNX file) and deployedBackends (remote instances)', o.deployedModel);
  }
  const deployedBackends = o.deployedBackends === undefined ? undefined : backends('deployedBackends', o.deployedBackends);
  if (deployedBackends && o.instances !== undefined) bad('instances', 'counts local instances: with deployedBackends each listed URL is one instance', o.instances);
  const mode = oneOf('mode', o.mode, ['none', 'equal-resources', 'hedged', 'parm'] as const, parityModels.length > 0 ? 'parm' : 'none');
  // equal-resources and hedged size themselves as parm would (m + r x parityInstances, r >= 1).
  if (mode === 'parm' && parityModels.length === 0) bad('parityModels', "mode 'parm' needs at least one parity model", o.parityModels);
  if (encoder === 'concat' && parityModels.length > 1) bad('parityModels', 'the concat encoder supports r = 1 only', parityModels.length);
  const instances = deployedBackends ? deployedBackends.length : int('instances', o.instances, DEFAULTS.instances, 1, MAX_INSTANCES);
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
    deployedModel: o.deployedModel === undefined ? undefined : modelPath('deployedModel', o.deployedModel, baseDir),
    deployedBackends,
    parityModels,
    k,
    encoder,
    mode,
    instances,
    parityInstances: int('parityInstances', o.parityInstances, Math.ceil(instances / k), 1, MAX_INSTANCES),
    isolation: oneOf('isolation', o.isolation, ['thread', 'process'] as const, DEFAULTS.isolation),
    threadsPerSession: int('threadsPerSession', o.threadsPerSession, DEFAULTS.threadsPerSession, 1, 256),
    balancing: oneOf('balancing', o.balancing, ['shared-queue', 'round-robin'] as const, DEFAULTS.balancing),
    warmFirst: o.warmFirst === undefined || typeof o.warmFirst === 'boolean' ? o.warmFirst : bad('warmFirst', 'expected true or false', o.warmFirst),
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
    parityDeferMs: o.parityDeferMs === undefined ? undefined : num('parityDeferMs', o.parityDeferMs, NaN, 0, MAX_TIMER_MS),
  };
}

/**
 * Deployed-model instances a mode runs. Local: the baselines with redundancy get parm's total
 * count (m + r x parityInstances, r >= 1). Remote: exactly the listed deployed backends.
 */
export function deployedInstanceCount(o: Pick<ResolvedOptions, 'mode' | 'instances' | 'parityInstances' | 'parityModels' | 'deployedBackends'>): number {
  if (o.deployedBackends) return o.deployedBackends.length;
  const r = Math.max(1, o.parityModels.length);
  return o.mode === 'equal-resources' || o.mode === 'hedged' ? o.instances + r * o.parityInstances : o.instances;
}

/** Parity instances of one row: its listed backends, or parityInstances local ones. */
export function parityRowCount(o: Pick<ResolvedOptions, 'parityInstances'>, row: ResolvedOptions['parityModels'][number]): number {
  return row.backends ? row.backends.length : o.parityInstances;
}

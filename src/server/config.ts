// `parm serve` configuration (Contract 4): the JSON config file, the `bundled` deployment shortcut,
// and the --fault SPEC syntax. Validated once here, with one message format, before anything starts.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ParmError } from '../errors.js';
import { bundledManifestPath, deploymentFromManifest } from '../engine/manifest.js';
import type { EncoderKind, EngineOptions, FaultSpec } from '../engine/types.js';
import { DEFAULT_LIMITS, type ServerLimits } from './server.js';

export interface ServeConfig {
  host?: string;
  port?: number;
  limits?: Partial<ServerLimits>;
  deployments: EngineOptions[];
}

function bad(message: string): never {
  throw new ParmError('PARM_ERR_SERVER_CONFIG', message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

/** Validates a partial ServerLimits object (config file `limits`). */
export function parseLimits(v: unknown, where: string): Partial<ServerLimits> {
  if (v === undefined) return {};
  if (!isObject(v)) bad(`${where}: limits must be an object`);
  const out: Partial<ServerLimits> = {};
  for (const [k, val] of Object.entries(v)) {
    if (!(k in DEFAULT_LIMITS)) bad(`${where}: unknown limit '${k}' (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (typeof val !== 'number' || !Number.isFinite(val) || val < 0) bad(`${where}: limits.${k} must be a number >= 0, got ${JSON.stringify(val)}`);
    out[k as keyof ServerLimits] = val;
  }
  return out;
}

/**
 * One deployment of the config: an EngineOptions object whose model paths are relative to the
 * config file, or `{ "bundled": "<manifest deployment>", "k"?, "encoder"?, ...EngineOptions }`.
 */
export function resolveDeployment(d: unknown, baseDir: string, where: string, manifestPath = bundledManifestPath()): EngineOptions {
  if (!isObject(d)) bad(`${where}: a deployment must be an object`);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if ('bundled' in d) {
    const { bundled, k, encoder, ...rest } = d;
    if (typeof bundled !== 'string') bad(`${where}.bundled must be a deployment name from models/manifest.json`);
    if (k !== undefined && (typeof k !== 'number' || !Number.isInteger(k) || k < 1)) bad(`${where}.k must be an integer >= 1`);
    if (encoder !== undefined && encoder !== 'sum' && encoder !== 'concat') bad(`${where}.encoder must be "sum" or "concat"`);
    let base: EngineOptions;
    try {
      base = deploymentFromManifest(manifestPath, bundled, { k: k as number | undefined, encoder: encoder as EncoderKind | undefined });
    } catch (err) {
      return bad(`${where}: ${(err as Error).message}`);
    }
    return { ...base, ...(rest as Partial<EngineOptions>) };
  }
  if (typeof d.name !== 'string' || d.name === '') bad(`${where}.name must be a non-empty string`);
  if (typeof d.deployedModel !== 'string') bad(`${where}.deployedModel must be a path to an ONNX file (or use "bundled")`);
  const out = { ...(d as unknown as EngineOptions), deployedModel: abs(d.deployedModel) };
  if (d.parityModels !== undefined) {
    if (!Array.isArray(d.parityModels)) bad(`${where}.parityModels must be an array of { path, coefficients? }`);
    out.parityModels = d.parityModels.map((p, i) => {
      if (!isObject(p) || typeof p.path !== 'string') bad(`${where}.parityModels[${i}].path must be a path to an ONNX file`);
      return { ...(p as unknown as { path: string }), path: abs(p.path) };
    });
  }
  return out;
}

/** Reads and validates a serve config file. */
export function loadServeConfig(file: string, manifestPath = bundledManifestPath()): ServeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return bad(`--config ${file}: ${(err as Error).message}`);
  }
  if (!isObject(raw)) bad(`--config ${file}: expected a JSON object { host?, port?, limits?, deployments: [...] }`);
  const known = new Set(['host', 'port', 'limits', 'deployments']);
  for (const k of Object.keys(raw)) if (!known.has(k)) bad(`--config ${file}: unknown key '${k}' (known: ${[...known].join(', ')})`);
  if (raw.host !== undefined && typeof raw.host !== 'string') bad(`--config ${file}: host must be a string`);
  if (raw.port !== undefined && (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 0 || raw.port > 65535)) {
    bad(`--config ${file}: port must be an integer in [0, 65535]`);
  }
  if (!Array.isArray(raw.deployments) || raw.deployments.length === 0) bad(`--config ${file}: deployments must be a non-empty array`);
  const baseDir = dirname(resolve(file));
  const deployments = raw.deployments.map((d, i) => resolveDeployment(d, baseDir, `--config ${file}: deployments[${i}]`, manifestPath));
  const names = new Set<string>();
  for (const d of deployments) {
    if (names.has(d.name)) bad(`--config ${file}: two deployments are named '${d.name}'`);
    names.add(d.name);
  }
  return {
    host: raw.host as string | undefined,
    port: raw.port as number | undefined,
    limits: parseLimits(raw.limits, `--config ${file}`),
    deployments,
  };
}

// `parm serve` configuration (Contract 4): the JSON config file and the `bundled` deployment
// shortcut. Validated once here, with one message format, before anything starts.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ParmError } from '../errors.js';
import { bundledManifestPath, deploymentFromManifest } from '../engine/manifest.js';
import type { EncoderKind, EngineOptions } from '../engine/types.js';
import { parseLimits, type ServerLimits } from './limits.js';

/** A deployment of the config file by its bundled name: models/manifest.json gives the model paths. */
export interface BundledDeployment extends Partial<EngineOptions> {
  bundled: string;
  /** Coding group size whose parity model to take (default 2). */
  k?: number;
  encoder?: EncoderKind;
}

/** The config file as written (JSON): model paths relative to the file, or bundled names. */
export interface ServeConfigFile {
  host?: string;
  port?: number;
  limits?: Partial<ServerLimits>;
  deployments: Array<EngineOptions | BundledDeployment>;
}

/** The config file read and validated: every deployment resolved to engine options with absolute paths. */
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
  if (typeof d.deployedModel !== 'string' && !Array.isArray(d.deployedBackends)) {
    bad(`${where}.deployedModel must be a path to an ONNX file, or deployedBackends a list of model endpoint URLs (or use "bundled")`);
  }
  // Paths are relative to the config file; backend URLs (the engine checks them) stay as written.
  const out = { ...(d as unknown as EngineOptions) };
  if (typeof d.deployedModel === 'string') out.deployedModel = abs(d.deployedModel);
  if (d.parityModels !== undefined) {
    if (!Array.isArray(d.parityModels)) bad(`${where}.parityModels must be an array of { path | backends, coefficients? }`);
    out.parityModels = d.parityModels.map((p, i) => {
      if (!isObject(p) || (typeof p.path !== 'string' && !Array.isArray(p.backends))) {
        bad(`${where}.parityModels[${i}] needs a path to an ONNX file or backends, a list of model endpoint URLs`);
      }
      return typeof p.path === 'string' ? { ...p, path: abs(p.path) } : { ...p };
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

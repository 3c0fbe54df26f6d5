// Builds EngineOptions from models/manifest.json (Contract 3/4): the serve config's `bundled`
// shortcut and the one-call default deployment.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ParmError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { EncoderKind, EngineOptions } from './types.js';

export interface ManifestTensor {
  name: string;
  shape: number[];
  datatype: string;
}

export interface ManifestParity {
  k: number;
  encoder: EncoderKind;
  path: string;
  card?: string;
  coefficients?: number[];
}

export interface ManifestDeployment {
  dataset?: string;
  model?: string;
  deployed: string;
  card?: string;
  input?: ManifestTensor;
  output?: ManifestTensor;
  classes?: string[];
  /** The encoder used when none is asked for (the manifest writer picks the best at k = 2); default sum. */
  encoder?: EncoderKind;
  parity: ManifestParity[];
}

export interface Manifest {
  version: 1;
  default: string;
  deployments: Record<string, ManifestDeployment>;
}

function bad(message: string): never {
  throw new ParmError('PARM_ERR_ENGINE_CONFIG', message);
}

/** Reads and checks a manifest (Contract 3); PARM_ERR_ENGINE_CONFIG names the file and the fault. */
export function readManifest(manifestPath: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (e) {
    return bad(`${manifestPath}: cannot read the model manifest: ${(e as Error).message}`);
  }
  if (typeof m !== 'object' || m === null || m.version !== 1 || typeof m.deployments !== 'object' || m.deployments === null) {
    bad(`${manifestPath}: expected a version 1 parm manifest { version: 1, default, deployments } (see docs/training.md)`);
  }
  for (const [name, d] of Object.entries(m.deployments)) {
    if (typeof d?.deployed !== 'string' || !Array.isArray(d.parity)) {
      bad(`${manifestPath}: deployment ${name} needs "deployed" and "parity" entries`);
    }
    if (d.encoder !== undefined && d.encoder !== 'sum' && d.encoder !== 'concat') {
      bad(`${manifestPath}: deployment ${name}: encoder must be "sum" or "concat", got ${JSON.stringify(d.encoder)}`);
    }
  }
  return m;
}

/**
 * EngineOptions for deployment `name` of a manifest, with absolute model paths and every parity
 * model listed for this k and encoder (r = their count, in manifest order). Without an encoder:
 * the deployment's own `encoder`, else sum.
 */
export function deploymentFromManifest(
  manifestPath: string,
  name: string,
  opts: { k?: number; encoder?: EncoderKind } = {},
): EngineOptions {
  const k = opts.k ?? 2;
  const m = readManifest(manifestPath);
  const d = m.deployments[name];
  if (!d) bad(`bundled: no deployment '${name}' in ${manifestPath} (has: ${Object.keys(m.deployments).join(', ') || 'none'})`);
  const encoder: EncoderKind = opts.encoder ?? d.encoder ?? 'sum';
  const base = dirname(resolve(manifestPath));
  const parity = d.parity.filter((p) => p.k === k && p.encoder === encoder);
  if (parity.length === 0) {
    const have = d.parity.map((p) => `k=${p.k} ${p.encoder}`).join(', ') || 'none';
    bad(`bundled: deployment '${name}' has no parity model for k=${k}, encoder ${encoder} (has: ${have})`);
  }
  return {
    name,
    deployedModel: join(base, d.deployed),
    parityModels: parity.map((p) => ({ path: join(base, p.path), ...(p.coefficients ? { coefficients: p.coefficients } : {}) })),
    k,
    encoder,
    mode: 'parm',
  };
}

/** models/manifest.json of this package. */
export function bundledManifestPath(): string {
  return join(packageRoot(), 'models', 'manifest.json');
}

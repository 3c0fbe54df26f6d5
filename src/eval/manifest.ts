// Reads models/manifest.json (Contract 3) and locates the bundled models folder.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParmError } from '../errors.js';

export interface ManifestTensor { name: string; shape: number[]; datatype: string }
export interface ManifestParity { k: number; encoder: string; path: string; card: string }
export interface ManifestDeployment {
  dataset: string;
  model: string;
  deployed: string;
  card: string;
  input: ManifestTensor;
  output: ManifestTensor;
  classes: string[];
  parity: ManifestParity[];
}
export interface Manifest {
  version: 1;
  default: string;
  deployments: Record<string, ManifestDeployment>;
}

/** The repository / package root (the folder holding package.json), from src/ or dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new ParmError('PARM_ERR_CLI_USAGE', 'cannot find the parm package root');
    dir = up;
  }
}

export function defaultModelsDir(): string {
  return join(packageRoot(), 'models');
}

export function loadManifest(modelsDir: string): { dir: string; manifest: Manifest } {
  const dir = resolve(modelsDir);
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `${file} does not exist; pass --models DIR with a manifest.json ` +
      `(write one with: python3 -m training manifest --models DIR)`);
  }
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (m?.version !== 1 || typeof m.deployments !== 'object' || m.deployments === null) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `${file} is not a version 1 parm manifest (see docs/training.md)`);
  }
  for (const [name, d] of Object.entries(m.deployments)) {
    if (typeof d?.deployed !== 'string' || !Array.isArray(d.parity)) {
      throw new ParmError('PARM_ERR_CLI_USAGE', `${file}: deployment ${name} needs "deployed" and "parity" entries`);
    }
  }
  return { dir, manifest: m };
}

// The engine's public surface (re-exported by the package entry, src/index.ts).
import { createEngine, type EngineRuntime } from './engine.js';
import { bundledManifestPath, deploymentFromManifest, readManifest } from './manifest.js';
import type { Engine, EngineOptions } from './types.js';

export { createEngine, ParmEngine, type EngineLogger, type EngineRuntime } from './engine.js';
export { backgroundPlan, backgroundTargets, BackgroundSchedule } from './background.js';
export { realClock, type Clock, type TimerHandle } from './clock.js';
export { nativeCodec, type EngineCodec } from './engine-codec.js';
export type { EngineInstance, InstanceEvents, InstanceFactory, InstanceSpec, ModelSignature } from './instance.js';
export { bundledManifestPath, deploymentFromManifest, readManifest, type Manifest } from './manifest.js';
export { DEFAULTS as ENGINE_DEFAULTS, resolveOptions } from './options.js';
export { LocalInstance, defaultInstanceFactory, WORKER_URL } from './local-instance.js';
export { RemoteInstance, parseModelUrl, type RemoteBackend } from './remote-instance.js';
export type * from './types.js';

/**
 * The bundled default deployment (models/manifest.json `default`, k = 2, encoder sum), started.
 * `overrides` replace any EngineOptions field (e.g. instances, mode, faults).
 */
export async function createDefaultEngine(overrides: Partial<EngineOptions> = {}, runtime: EngineRuntime = {}): Promise<Engine> {
  const manifest = bundledManifestPath();
  const m = readManifest(manifest);
  const base = deploymentFromManifest(manifest, m.default, { k: overrides.k ?? 2, ...(overrides.encoder ? { encoder: overrides.encoder } : {}) });
  return createEngine({ ...base, ...overrides }, runtime);
}

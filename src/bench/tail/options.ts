// Options of `parm bench tail`: the modes to compare, offered loads, trials, background load, and
// the presets (full and --quick). Validated once here, with one message format.
import type { BackgroundLoadSpec, Mode } from '../../engine/types.js';
import type { LinkLimit } from './netns.js';
import { ParmError } from '../../errors.js';
import { DEFAULT_DATASET_DIR } from '../../dataset.js';
import type { Framing } from '../../wire/index.js';

export interface ModeSpec {
  mode: Mode;
  /**
   * `parm`: the coding group size. `equal-resources` and `hedged`: the k whose total instance
   * count (m + ceil(m / k)) they get. `none`: null (m instances, no redundancy).
   */
  k: number | null;
  label: string;
}

export type BackgroundOptions = Omit<BackgroundLoadSpec, 'seed'>;

/**
 * Where the instances run: `local`, threads of one `parm serve` (the default); `hosts`, one
 * `parm worker` per instance, each on its own network-namespace host, behind a `parm serve`
 * frontend on another (src/bench/tail/hosts.ts).
 */
export type Topology = 'local' | 'hosts';

/** `hosts`: a bulk transfer between a random pair of instance hosts starts every periodMs and lasts durationMs. */
export interface TransferOptions {
  periodMs: number;
  durationMs: number;
}

export interface TailBenchOptions {
  modes: ModeSpec[];
  /** Offered loads, queries/s. */
  rates: number[];
  trials: number;
  /** Load per run, ms, including the warm-up. */
  durationMs: number;
  warmupMs: number;
  /** Trial t uses seed + t for arrivals, query order and background schedule, in every mode. */
  seed: number;
  /** Deployed-model instances m of `parm` and `none`. */
  instances: number;
  /** Bundled deployment (models/manifest.json) to serve. */
  deployment: string;
  threadsPerSession: number;
  hedgeDelayMs: number | undefined;
  /** Extra EngineOptions fields merged into every deployment (e.g. groupWaitMs). */
  engine: Record<string, unknown>;
  background: BackgroundOptions | null;
  topology: Topology;
  /** `hosts`: the tbf limit on every host's downlink. */
  link: LinkLimit;
  /** `hosts`: the background across hosts (null: none). */
  transfers: TransferOptions | null;
  framing: Framing;
  connections: number;
  generators: number;
  drainTimeoutMs: number;
  datasetDir: string;
  outDir: string;
  charts: boolean;
}

const MODES: readonly Mode[] = ['none', 'equal-resources', 'hedged', 'parm'];

export function modeLabel(mode: Mode, k: number | null): string {
  if (mode === 'parm') return `parm k=${k}`;
  if (mode === 'none' || k === 2) return mode;
  return `${mode} k=${k}`;
}

function usage(msg: string): ParmError {
  return new ParmError('PARM_ERR_CLI_USAGE', msg);
}

/** `none,equal-resources,hedged,parm:2,parm:3` (a bare `parm` or baseline means k = 2). */
export function parseModes(text: string): ModeSpec[] {
  const out: ModeSpec[] = [];
  for (const token of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, kText] = token.split(':');
    if (!MODES.includes(name as Mode)) throw usage(`--modes: unknown mode "${name}" (expected one of ${MODES.join(', ')}, parm:K)`);
    const mode = name as Mode;
    let k: number | null = mode === 'none' ? null : 2;
    if (kText !== undefined) {
      k = Number(kText);
      if (mode === 'none' || !Number.isInteger(k) || k < 2 || k > 16) throw usage(`--modes: bad k in "${token}" (an integer 2..16, not for none)`);
    }
    if (out.some((m) => m.mode === mode && m.k === k)) continue;
    out.push({ mode, k, label: modeLabel(mode, k) });
  }
  if (out.length === 0) throw usage('--modes: no mode given');
  return out;
}

export function parseRates(text: string): number[] {
  const rates = text.split(',').map((s) => Number(s.trim()));
  if (rates.length === 0 || rates.some((r) => !Number.isFinite(r) || r <= 0)) throw usage(`--rates: expected positive numbers separated by commas, got "${text}"`);
  return [...new Set(rates)].sort((a, b) => a - b);
}

/** `kind=delay,width=1,period=200,duty=0.25,intensity=25,targets=all`, or `off`. */
export function parseBackground(text: string, base: BackgroundOptions | null): BackgroundOptions | null {
  if (text === 'off' || text === 'none') return null;
  const bg: BackgroundOptions = { ...(base ?? DEFAULT_BACKGROUND) };
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, value] = part.split('=');
    const num = Number(value);
    switch (key) {
      case 'kind':
        if (value !== 'delay' && value !== 'contention') throw usage(`--background: kind must be delay or contention, got "${value}"`);
        bg.kind = value;
        break;
      case 'width':
        if (num !== 1 && num !== 2) throw usage(`--background: width must be 1 or 2, got "${value}"`);
        bg.width = num;
        break;
      case 'period':
        if (!(num > 0)) throw usage(`--background: period must be > 0 ms, got "${value}"`);
        bg.periodMs = num;
        break;
      case 'duty':
        if (!(num > 0 && num <= 1)) throw usage(`--background: duty must be in (0, 1], got "${value}"`);
        bg.duty = num;
        break;
      case 'intensity':
        if (!(num > 0)) throw usage(`--background: intensity must be > 0, got "${value}"`);
        bg.intensity = num;
        break;
      case 'targets':
        if (value !== 'all' && value !== 'deployed') throw usage(`--background: targets must be all or deployed, got "${value}"`);
        bg.targets = value;
        break;
      default:
        throw usage(`--background: unknown key "${key}" (kind, width, period, duty, intensity, targets)`);
    }
  }
  if (bg.kind === 'contention' && bg.intensity > 1) throw usage('--background: contention intensity is a busy fraction in (0, 1]');
  return bg;
}

/**
 * Default background: every 200 ms one random instance (deployed or parity) is slowed for a
 * quarter of the period, each query it starts meanwhile taking 50 ms longer. Delays rather than
 * CPU burn: on a 2-core machine a burning thread slows every instance at once (there are more
 * instances than cores), which no redundancy can route around.
 */
export const DEFAULT_BACKGROUND: BackgroundOptions = { kind: 'delay', width: 1, periodMs: 200, duty: 0.25, intensity: 50, targets: 'all' };

export const DEFAULT_MODES = 'none,equal-resources,hedged,parm:2,parm:3,parm:4';

/**
 * `hosts`: 100 Mbit/s downlinks whose tbf queue holds 50 ms of traffic (a request behind a full
 * queue waits up to 50 ms, like the local delay background), with a 32 KB bucket so that an idle
 * link passes a request (3.2 KB) at once.
 */
export const DEFAULT_LINK: LinkLimit = { mbit: 100, latencyMs: 50, burstBytes: 32 * 1024 };

/** `hosts`: like the local background's defaults, a new random pair every 200 ms for a quarter of the period. */
export const DEFAULT_TRANSFERS: TransferOptions = { periodMs: 200, durationMs: 50 };

export function defaultOptions(quick: boolean): TailBenchOptions {
  return {
    modes: parseModes(DEFAULT_MODES),
    rates: quick ? [200] : [200, 400, 800],
    trials: quick ? 1 : 3,
    // A fresh server needs seconds of full load to reach its steady speed (with six instances at
    // 800 q/s the first 4 s had a p50 of 7-280 ms, the next 4 s 2-6 ms): a measured window that
    // starts earlier measures that start-up transient, not the server.
    durationMs: quick ? 5000 : 14_000,
    warmupMs: quick ? 2000 : 5000,
    seed: 1,
    instances: 4,
    deployment: 'fashion-mnist-mlp',
    threadsPerSession: 1,
    hedgeDelayMs: undefined,
    engine: {},
    background: { ...DEFAULT_BACKGROUND },
    topology: 'local',
    link: { ...DEFAULT_LINK },
    transfers: { ...DEFAULT_TRANSFERS },
    framing: 'binary',
    connections: 1,
    generators: 1,
    drainTimeoutMs: 10_000,
    datasetDir: DEFAULT_DATASET_DIR,
    outDir: 'bench-results/tail',
    charts: true,
  };
}

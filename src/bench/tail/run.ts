// Orchestrates the tail benchmark: for every trial, offered load and mode, a fresh server with
// that mode's deployment (same seed, so the same arrivals, query order and background schedule
// in every mode), a fresh load-generator process, and one TrialRecord.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineOptions } from '../../engine/types.js';
import { ParmError } from '../../errors.js';
import type { BundledDeployment, ServeConfigFile } from '../../server/config.js';
import { runGenerators, type Forker } from './generators.js';
import { HostsTopology, type TopologyRecord } from './hosts.js';
import { cpuTicks, stealPct } from './steal.js';
import type { LoadResult, Progress } from './loadgen.js';
import type { ModeSpec, TailBenchOptions } from './options.js';
import { spawnParmServe } from './serve-process.js';
import { addRatios, summarize, type TrialRecord } from './stats.js';

export interface RunSpec {
  spec: ModeSpec;
  rate: number;
  trial: number;
  seed: number;
  index: number;
  /** Instance counts this mode is configured with. */
  instances: { deployed: number; parity: number };
}

/** A server to load for one run: where to connect and how to stop it. */
export interface Target {
  wsUrl: string;
  /** Instance counts the server reports, when it does. */
  instances: { deployed: number; parity: number } | null;
  /** The server's CPU time so far (ms, all its threads), when it can be read. */
  cpuMs?: () => number | null;
  /** The CPU time of the server's main thread alone so far (ms), when it can be read. */
  mainThreadCpuMs?: () => number | null;
  /** Where the load generators run (default: child processes on this host). */
  fork?: Forker;
  /** A background the target runs itself, started with the load and stopped after it (hosts: bulk transfers). */
  background?: { start(): void; stop(): Promise<void> };
  /** Fields the target adds to the run's record. */
  runStats?: () => Partial<TrialRecord>;
  stop(): Promise<void>;
}

export interface RunHooks {
  /** Starts the server for one run; by default a `parm serve` child process (startParmTarget). */
  startTarget?: (run: RunSpec, opts: TailBenchOptions, workDir: string) => Promise<Target>;
  onRunStart?: (run: RunSpec, runs: number) => void;
  onProgress?: (run: RunSpec, p: Progress) => void;
  onRunEnd?: (run: RunSpec, record: TrialRecord) => void;
  onRunFailed?: (run: RunSpec, err: Error) => void;
}

export interface RunOutcome {
  records: TrialRecord[];
  /** `--topology hosts`: the hosts, their links and the transfer schedule. */
  topology: TopologyRecord | null;
  /** Raw latencies (ms) of each run, by `${label}@${rate}#${trial}`, for the CDF chart. */
  latencies: Map<string, Float64Array>;
  /** Each run's times outside the engine and the engine's latencies of the same answers (LoadResult.outsideMs, engineMs), by the same key. */
  outside: Map<string, { outsideMs: Float64Array; engineMs: Float64Array }>;
  errorSamples: string[];
}

export function instancesFor(spec: ModeSpec, m: number): { deployed: number; parity: number } {
  switch (spec.mode) {
    case 'none':
      return { deployed: m, parity: 0 };
    case 'parm':
      return { deployed: m, parity: Math.ceil(m / spec.k!) };
    default:
      return { deployed: m + Math.ceil(m / spec.k!), parity: 0 };
  }
}

/**
 * The Contract 4 serve config of one run. Every mode gets `instances: m`; all but `none` also get
 * k and parityInstances = ceil(m / k): the engine gives `parm` m deployed + ceil(m / k) parity
 * instances and sizes `equal-resources` and `hedged` to the same total, all deployed replicas.
 */
export function serveConfigFor(run: RunSpec, opts: TailBenchOptions): ServeConfigFile {
  const deployment: BundledDeployment = {
    bundled: opts.deployment,
    mode: run.spec.mode,
    instances: opts.instances,
    threadsPerSession: opts.threadsPerSession,
    ...(opts.engine as Partial<EngineOptions>),
  };
  if (run.spec.mode !== 'none') {
    deployment.k = run.spec.k!;
    deployment.parityInstances = Math.ceil(opts.instances / run.spec.k!);
  }
  if (run.spec.mode === 'hedged' && opts.hedgeDelayMs !== undefined) deployment.hedgeDelayMs = opts.hedgeDelayMs;
  if (opts.background) deployment.background = { ...opts.background, seed: run.seed };
  // The generator pipelines every query on one connection; the server's per-connection cap
  // (sized for ordinary clients) must not turn a tail stall into error answers.
  return { host: '127.0.0.1', port: 0, limits: { maxInFlightPerConnection: 100_000 }, deployments: [deployment] };
}

/** The file-name stem of one run's configs and logs. */
function runName(run: RunSpec): string {
  return `run${String(run.index).padStart(3, '0')}-${run.spec.label.replace(/[^a-z0-9]+/gi, '-')}-r${run.rate}-t${run.trial}`;
}

export async function startParmTarget(run: RunSpec, opts: TailBenchOptions, workDir: string): Promise<Target> {
  const name = runName(run);
  const server = await spawnParmServe({ config: serveConfigFor(run, opts), model: opts.deployment, workDir, name });
  return {
    wsUrl: `ws://127.0.0.1:${server.port}/v2/models/${encodeURIComponent(server.model)}/infer/stream`,
    instances: server.instances,
    cpuMs: () => server.cpuMs(),
    mainThreadCpuMs: () => server.mainThreadCpuMs(),
    stop: () => server.stop(),
  };
}

export function recordOf(run: RunSpec, result: LoadResult, instances: { deployed: number; parity: number }, durationMs: number, serverCpuMs: number | null = null): TrialRecord {
  const s = summarize(result.latenciesMs);
  const answered = result.latenciesMs.length;
  const outside = result.outsideMs.length > 0 ? summarize(result.outsideMs) : null;
  return {
    mode: run.spec.mode,
    k: run.spec.k,
    label: run.spec.label,
    rate: run.rate,
    trial: run.trial,
    seed: run.seed,
    instances,
    queries: answered,
    scheduled: result.scheduled,
    errors: result.errors,
    lost: result.lost,
    p50_ms: s.p50,
    p90_ms: s.p90,
    p99_ms: s.p99,
    p999_ms: s.p999,
    max_ms: s.max,
    mean_ms: s.mean,
    gap_ms: s.p999 - s.p50,
    gap_ratio_vs_equal_resources: null,
    p50_ratio_vs_equal_resources: null,
    reconstructed_fraction: answered ? result.reconstructed / answered : 0,
    accuracy: answered ? result.correct / answered : 0,
    offered_rate: result.offeredRate,
    send_lag_p99_ms: result.sendLagMs.p99,
    generator_cpu_pct: (100 * result.cpuMs) / durationMs,
    server_cpu_pct: serverCpuMs === null ? null : (100 * serverCpuMs) / durationMs,
    server_cpu_ms_per_query: serverCpuMs === null ? null : serverCpuMs / Math.max(1, (run.rate * durationMs) / 1000),
    outside_ms: outside && { p50: outside.p50, p99: outside.p99, p999: outside.p999 },
  };
}

/** Every run in order: trials outermost, then loads, then modes (rotated per trial), so that slow drifts of a shared machine touch every mode alike. */
export function plan(opts: TailBenchOptions): RunSpec[] {
  const runs: RunSpec[] = [];
  for (let trial = 0; trial < opts.trials; trial++) {
    for (const rate of opts.rates) {
      const n = opts.modes.length;
      for (let j = 0; j < n; j++) {
        const spec = opts.modes[(j + trial) % n]!;
        runs.push({ spec, rate, trial, seed: opts.seed + trial, index: runs.length, instances: instancesFor(spec, opts.instances) });
      }
    }
  }
  return runs;
}

export async function runTailBenchmark(opts: TailBenchOptions, hooks: RunHooks = {}): Promise<RunOutcome> {
  const hosts = opts.topology === 'hosts' && !hooks.startTarget ? await HostsTopology.create(opts) : null;
  try {
    return await runAll(opts, hooks, hosts);
  } finally {
    hosts?.close();
  }
}

async function runAll(opts: TailBenchOptions, hooks: RunHooks, hosts: HostsTopology | null): Promise<RunOutcome> {
  const start = hooks.startTarget ?? (hosts ? (run: RunSpec, o: TailBenchOptions, dir: string) => hosts.startTarget(run, o, dir, runName(run)) : startParmTarget);
  const workDir = mkdtempSync(join(tmpdir(), 'parm-bench-tail-'));
  const runs = plan(opts);
  const records: TrialRecord[] = [];
  const latencies = new Map<string, Float64Array>();
  const outside = new Map<string, { outsideMs: Float64Array; engineMs: Float64Array }>();
  const errorSamples: string[] = [];
  let ok = false;
  try {
    // A mode whose server cannot start (e.g. no parity model for that k) is reported and
    // skipped; the other modes still run.
    const failed = new Set<string>();
    for (const run of runs) {
      if (failed.has(run.spec.label)) continue;
      hooks.onRunStart?.(run, runs.length);
      let target: Target;
      try {
        target = await start(run, opts, workDir);
      } catch (err) {
        failed.add(run.spec.label);
        errorSamples.push(`${run.spec.label}: server did not start, mode skipped: ${(err as Error).message}`);
        hooks.onRunFailed?.(run, err as Error);
        continue;
      }
      let result: LoadResult;
      let serverCpuMs: number | null = null;
      let ticks0: ReturnType<typeof cpuTicks> = null;
      let steal: number | null = null;
      try {
        const cpu0 = target.cpuMs?.() ?? null;
        ticks0 = cpuTicks();
        target.background?.start();
        result = await runGenerators(
          {
            url: target.wsUrl,
            rate: run.rate,
            generators: opts.generators,
            durationMs: opts.durationMs,
            warmupMs: opts.warmupMs,
            seed: run.seed,
            connections: opts.connections,
            framing: opts.framing,
            datasetDir: opts.datasetDir,
            drainTimeoutMs: opts.drainTimeoutMs,
            fork: target.fork,
          },
          (p) => hooks.onProgress?.(run, p),
        );
        const cpu1 = target.cpuMs?.() ?? null;
        steal = stealPct(ticks0, cpuTicks());
        if (cpu0 !== null && cpu1 !== null) serverCpuMs = cpu1 - cpu0;
      } finally {
        await target.background?.stop();
        await target.stop();
      }
      const record = { ...recordOf(run, result, target.instances ?? run.instances, opts.durationMs, serverCpuMs), steal_pct: steal, ...target.runStats?.() };
      records.push(record);
      latencies.set(`${run.spec.label}@${run.rate}#${run.trial}`, result.latenciesMs);
      outside.set(`${run.spec.label}@${run.rate}#${run.trial}`, { outsideMs: result.outsideMs, engineMs: result.engineMs });
      for (const e of result.errorSamples) if (errorSamples.length < 20) errorSamples.push(`${run.spec.label} @ ${run.rate}/s: ${e}`);
      hooks.onRunEnd?.(run, record);
    }
    if (records.length === 0) throw new ParmError('PARM_ERR_CLI_USAGE', `parm bench tail: no run completed:\n  ${errorSamples.join('\n  ')}`);
    ok = true;
  } finally {
    // Keep the configs and server logs of a failed benchmark for diagnosis.
    if (ok) rmSync(workDir, { recursive: true, force: true });
    else process.stderr.write(`parm bench tail: server configs and logs kept in ${workDir}\n`);
  }
  addRatios(records);
  return { records, topology: hosts?.record ?? null, latencies, outside, errorSamples };
}

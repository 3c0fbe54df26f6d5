// One simulated run: the real ParmEngine (its batcher, coding window, parity coding, scheduler,
// recovery and query book) on a VirtualClock with SimInstances, fed by an arrival process, with
// the straggler models applied; returns the same latency fields as `parm bench tail`.
import { join } from 'node:path';
import { ParmEngine } from '../engine/engine.js';
import { nativeCodec } from '../engine/engine-codec.js';
import type { EngineInstance } from '../engine/instance.js';
import type { BackgroundLoadSpec, DecodePolicy, EngineMetrics, EngineOptions, Mode } from '../engine/types.js';
import { makeRng } from '../bench/tail/rng.js';
import { packageRoot } from '../package-root.js';
import { summarize, type LatencyStats } from '../bench/tail/stats.js';
import { CpuPool, niceWeight } from './cpu-pool.js';
import { SimInstance } from './sim-instance.js';
import type { QuantileTable, ServiceTime } from './service-times.js';
import { RUN_TIME_QUANTILES } from '../engine/metrics.js';
import { VirtualClock } from './virtual-clock.js';
import { fractionAbove } from './percentile-interval.js';
import { MainThread, type MainThreadCosts } from './main-thread.js';

/** Only checked to exist by the engine's option validator: simulated instances load nothing. */
const placeholderModel = (): string => join(packageRoot(), 'package.json');

/** Straggler models (docs/simulate.md). */
export interface Stragglers {
  /** The benchmark's seeded background schedule, run by the engine itself as in `parm bench tail`. */
  background?: BackgroundLoadSpec;
  /** A seeded fraction of the instances runs `factor` times slower, all the time. */
  slow?: { fraction: number; factor: number };
  /** Every instance fails as a Poisson process with this mean time between failures, and is back `restartMs` later. */
  failures?: { mtbfMs: number; restartMs: number };
  /**
   * The paper's moving disturbance at fleet scale: every `periodMs` a seeded random `fraction` of
   * the instances (deployed and parity) adds `delayMs` to the runs they start for `duty` of the
   * period (the engine's background schedule picks one or two instances, which a large fleet
   * would not notice).
   */
  moving?: { fraction: number; periodMs: number; duty: number; delayMs: number };
  /** Correlated slowdowns: instances in racks of `size` (in id order); every `periodMs`, `count` seeded random racks add `delayMs` to runs for `duty` of the period. */
  racks?: { size: number; count: number; periodMs: number; duty: number; delayMs: number };
}

export interface SimConfig {
  mode: Mode;
  /** Coding group size (parm; sizes the baselines' extra replicas as parm's parity would). */
  k: number;
  /** Parity rows. */
  r: number;
  /** Deployed instances m; parm adds r x ceil(m / k) parity instances, the baselines as many deployed replicas. */
  instances: number;
  /** Offered load, queries/s (Poisson), or explicit arrival offsets (ms) from a trace. */
  rate: number;
  arrivals?: Float64Array;
  queries: number;
  service: { deployed: ServiceTime; parity: ServiceTime };
  /** Added to every answer: time outside the engine (transport, parsing); sampled per query, given the answer's engine latency. */
  frontend?: ServiceTime;
  /** Cores shared by all instances (processor sharing); absent: a core per instance. */
  cpu?: SharedCpu;
  stragglers: Stragglers;
  seed: number;
  decode?: DecodePolicy;
  groupWaitMs?: number;
  hedgeDelayMs?: number;
  partialGroup?: 'replicate' | 'unprotected';
  /** The engine's warmFirst (default: the engine's default). */
  warmFirst?: boolean;
  /** Queries at the start not measured (default the first 5 %). */
  warmupQueries?: number;
  /** Report the fraction of measured answers slower than this (ms): SimResult.slow_fraction. */
  slowMs?: number;
  /**
   * The server's main thread as one queue (src/sim/main-thread.ts): arrivals, instance events and
   * the engine's timers are handled in turn, each after the CPU it costs (on the shared cores
   * where `cpu` is set); absent: the engine handles every event the instant it happens.
   */
  mainThread?: MainThreadCosts;
}

/** The shared-CPU model (docs/simulate.md): instances as threads on a fixed number of cores. */
export interface SharedCpu {
  cores: number;
  /** Parity instances' nice value relative to deployed ones (CFS weights); 0: equal shares. */
  parityNice: number;
  /**
   * CPU work each query brings outside the instances (frontend, load generator, runtime threads),
   * started at its arrival on the same cores at deployed weight; it takes cores from the runs
   * but is not on the query's own path (that is `frontend`).
   */
  perQuery?: ServiceTime;
  /** The part of a run's service time that needs a core (default 1); the rest is waiting (messages, wake-ups). */
  runCpuFraction?: number;
}

export interface SimResult extends LatencyStats {
  mode: Mode;
  k: number;
  r: number;
  label: string;
  instances: { deployed: number; parity: number };
  /** Extra instances over the m deployed ones, in deployed-instance equivalents / m. */
  resource_overhead: number;
  rate: number;
  queries: number;
  gap_ms: number;
  reconstructed_fraction: number;
  errors: number;
  /** Simulated seconds, and wall seconds the simulation took. */
  simulated_s: number;
  wall_s: number;
  /** Mean utilisation of the deployed instances. */
  utilisation: number;
  /** `cpu`: the mean number of the shared cores in use; null without shared cores. */
  cores_busy: number | null;
  /** The engine's own latency percentiles by kind of answer (the whole run, without the frontend time), as a real server reports them. */
  engine_latency: Record<'all' | 'original' | 'reconstructed', { p50: number; p99: number; p999: number }>;
  /** Run times the engine measured per role (injected delays left out), as a real server reports them. */
  run_time: { deployed: QuantileTable; parity: QuantileTable | null };
  /** With `slowMs`: the fraction of measured answers slower than it; otherwise null. */
  slow_fraction: number | null;
  /** Runs each instance finished with a result over the whole run (warm-up included), per role in instance order, as parm_instance_runs_total counts them. */
  instance_runs: { deployed: number[]; parity: number[] };
}

export function labelOf(c: Pick<SimConfig, 'mode' | 'k' | 'r'>): string {
  if (c.mode === 'parm') return `parm k=${c.k}${c.r > 1 ? ` r=${c.r}` : ''}`;
  return c.mode;
}

/** The coefficient rows of r parity models over k members: ones, then 1, 2, ..., k, then squares. */
export function parityRows(k: number, r: number): number[][] {
  return Array.from({ length: r }, (_, row) => Array.from({ length: k }, (_, j) => (j + 1) ** row));
}

export async function simulate(c: SimConfig): Promise<SimResult> {
  const t0 = performance.now();
  const clock = new VirtualClock();
  const slowRng = makeRng(c.seed, 101);
  const instances: SimInstance[] = [];
  const parityInstances = Math.ceil(c.instances / c.k);
  const pool = c.cpu ? new CpuPool(clock, c.cpu.cores) : null;
  const weights = { deployed: niceWeight(0), parity: niceWeight(c.cpu?.parityNice ?? 0) };
  const main = c.mainThread ? new MainThread(clock, pool, weights.deployed, c.mainThread) : null;
  // The engine's timers resolve as Node's do in production; the simulated instances' run times are exact.
  const engineClock = main ? main.engineClock(clock.withNodeTimers()) : clock.withNodeTimers();
  const options: EngineOptions = {
    name: 'sim',
    deployedModel: placeholderModel(),
    parityModels: parityRows(c.k, c.r).map((coefficients) => ({ path: placeholderModel(), coefficients })),
    mode: c.mode,
    k: c.k,
    instances: c.instances,
    parityInstances,
    maxPending: 100_000_000,
    heartbeatMs: 1_000,
    groupWaitMs: c.groupWaitMs ?? 5,
    hedgeDelayMs: c.hedgeDelayMs ?? 10,
    partialGroup: c.partialGroup ?? 'replicate',
    ...(c.warmFirst !== undefined ? { warmFirst: c.warmFirst } : {}),
    ...(c.decode ? { decode: c.decode } : {}),
    ...(c.stragglers.background ? { background: c.stragglers.background } : {}),
  };
  const engine = new ParmEngine(options, {
    clock: engineClock,
    codec: nativeCodec,
    instanceFactory: (spec, events): EngineInstance => {
      const slow = c.stragglers.slow && slowRng.next() < c.stragglers.slow.fraction ? c.stragglers.slow.factor : 1;
      const inst = new SimInstance(spec, main ? main.instanceEvents(events) : events, clock, {
        service: spec.role === 'deployed' ? c.service.deployed : c.service.parity,
        slowFactor: slow,
        mtbfMs: c.stragglers.failures?.mtbfMs,
        restartMs: c.stragglers.failures?.restartMs ?? 0,
        // One stream per instance: its service times and failures do not depend on the others'.
        rng: makeRng(c.seed, 1000 + instances.length),
        ...(pool ? { cpu: { pool, weight: weights[spec.role], fraction: c.cpu?.runCpuFraction ?? 1 } } : {}),
      });
      instances.push(inst);
      return inst;
    },
  });
  const ready = engine.ready();
  await clock.runUntil(() => false, 1);
  await ready;
  const stops: (() => void)[] = [];
  if (c.stragglers.racks) {
    const r = c.stragglers.racks;
    const racks: SimInstance[][] = [];
    for (let i = 0; i < instances.length; i += r.size) racks.push(instances.slice(i, i + r.size));
    stops.push(startDisturbances(racks, r.count, r, clock, makeRng(c.seed, 104)));
  }
  if (c.stragglers.moving) {
    const mv = c.stragglers.moving;
    stops.push(startDisturbances(instances.map((i) => [i]), Math.round(mv.fraction * instances.length), mv, clock, makeRng(c.seed, 107)));
  }

  const arrivals = c.arrivals ?? poisson(c.rate, c.queries, makeRng(c.seed, 105));
  const n = arrivals.length;
  const warm = Math.min(c.warmupQueries ?? Math.floor(n / 20), n - 1);
  const latency = new Float64Array(n);
  const reconstructed = new Uint8Array(n);
  const frontendRng = makeRng(c.seed, 106);
  // By rank: each answer's draws are kept and applied once the run's engine latencies are all known.
  const byRank = c.frontend?.byRank === true;
  const draws = byRank ? new Float64Array(2 * n) : null;
  const perQueryRng = makeRng(c.seed, 108);
  const perQuery = pool && c.cpu?.perQuery ? c.cpu.perQuery : null;
  const noop = (): void => {};
  let settled = 0;
  let errors = 0;
  const input = new Float32Array([1]);
  const start = clock.now();
  for (let i = 0; i < n; i++) {
    clock.advance(start + arrivals[i]!);
    // Drawn at arrival (the same random sequence whatever the engine does), applied to the answer:
    // a measured table with engine-latency classes draws from the class of the answer's latency.
    const u = c.frontend ? frontendRng.next() : 0;
    const u2 = c.frontend ? frontendRng.next() : 0;
    if (draws) {
      draws[2 * i] = u;
      draws[2 * i + 1] = u2;
    }
    if (perQuery) pool!.start(perQuery.sample(perQueryRng.next(), perQueryRng.next()), weights.deployed, noop);
    if (main) main.submit(main.costs.arrivalMs, () => submit(i, u, u2), true);
    else submit(i, u, u2);
    if ((i & 4095) === 4095) await new Promise((r) => setImmediate(r));
  }
  function submit(i: number, u: number, u2: number): void {
    engine.infer(input).then(
      (res) => {
        latency[i] = res.latencyMs + (c.frontend && !byRank ? c.frontend.sample(u, u2, res.latencyMs) : 0);
        reconstructed[i] = res.reconstructed ? 1 : 0;
        settled++;
      },
      () => {
        latency[i] = NaN;
        errors++;
        settled++;
      },
    );
  }
  await clock.runUntil(() => settled === n);
  const simulatedMs = clock.now() - start;
  const coresBusy = pool ? pool.busyMs / Math.max(1e-9, clock.now()) : null;
  const engineMetrics = engine.metrics();
  const runTime = engineMetrics.runTime;
  const engineLatency = Object.fromEntries(
    (['all', 'original', 'reconstructed'] as const).map((kind) => {
      const l = engineMetrics.latency[kind];
      return [kind, { p50: l?.p50 ?? 0, p99: l?.p99 ?? 0, p999: l?.p999 ?? 0 }];
    }),
  ) as SimResult['engine_latency'];
  const table = (t: EngineMetrics['runTime']['deployed']): QuantileTable => ({
    p: [...RUN_TIME_QUANTILES],
    quantiles: t.quantiles,
    count: t.count,
    by_idle: t.byIdle.map((c) => ({ idle_below_ms: c.idleBelowMs === Infinity ? null : c.idleBelowMs, p: [...RUN_TIME_QUANTILES], quantiles: c.quantiles, count: c.count })),
  });
  for (const stop of stops) stop();
  const closing = engine.close();
  await clock.runUntil(() => false, 0);
  await closing;

  if (draws) addByRank(latency, warm, draws, c.frontend!);
  const measured = Array.from(latency.subarray(warm)).filter((x) => !Number.isNaN(x));
  const s = summarize(measured);
  let recon = 0;
  for (let i = warm; i < n; i++) recon += reconstructed[i]!;
  const deployed = instances.filter((i) => i.role === 'deployed');
  const parityList = instances.filter((i) => i.role === 'parity');
  const parity = parityList.length;
  const busy = deployed.reduce((a, i) => a + i.busyMs, 0);
  return {
    ...s,
    mode: c.mode,
    k: c.k,
    r: c.r,
    label: labelOf(c),
    instances: { deployed: deployed.length, parity },
    resource_overhead: (deployed.length + parity - c.instances) / c.instances,
    rate: c.arrivals ? (n / simulatedMs) * 1000 : c.rate,
    queries: measured.length,
    gap_ms: s.p999 - s.p50,
    reconstructed_fraction: recon / Math.max(1, n - warm),
    errors,
    simulated_s: simulatedMs / 1000,
    wall_s: (performance.now() - t0) / 1000,
    utilisation: busy / Math.max(1e-9, simulatedMs * deployed.length),
    cores_busy: coresBusy,
    engine_latency: engineLatency,
    run_time: { deployed: table(runTime.deployed), parity: runTime.parity.count > 0 ? table(runTime.parity) : null },
    slow_fraction: c.slowMs === undefined ? null : fractionAbove(measured, c.slowMs),
    instance_runs: { deployed: deployed.map((i) => i.completedRuns), parity: parityList.map((i) => i.completedRuns) },
  };
}

/**
 * Adds to each measured answer (from `warm` on, NaN: failed) the time outside the engine drawn
 * from the class of its engine latency's rank among the measured answers, as a real run's table
 * of the same answers records it (validate.ts outsideTable).
 */
function addByRank(latency: Float64Array, warm: number, draws: Float64Array, frontend: ServiceTime): void {
  const order: number[] = [];
  for (let i = warm; i < latency.length; i++) if (!Number.isNaN(latency[i]!)) order.push(i);
  order.sort((a, b) => latency[a]! - latency[b]!);
  order.forEach((i, r) => (latency[i] = latency[i]! + frontend.sample(draws[2 * i]!, draws[2 * i + 1]!, r / order.length)));
}

/** `count` Poisson arrival offsets (ms) at `rate` queries/s. */
function poisson(rate: number, count: number, rng: ReturnType<typeof makeRng>): Float64Array {
  const out = new Float64Array(count);
  const mean = 1000 / rate;
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += -Math.log(1 - rng.next()) * mean;
    out[i] = t;
  }
  return out;
}

/**
 * Every period, `count` distinct seeded random groups (a rack, or a single instance) add delayMs to
 * the runs their instances start for duty x period, each from its own seeded random offset in the
 * period: disturbances that all began at the same instant would also catch, all at once, the idle
 * parity instances that the late members' parity queries go to next, which independent sources
 * (the paper's bulk transfers between random pairs, noisy neighbours) do not. Returns a function
 * that stops it.
 */
function startDisturbances(groups: SimInstance[][], count: number, d: { periodMs: number; duty: number; delayMs: number }, clock: VirtualClock, rng: ReturnType<typeof makeRng>): () => void {
  let stopped = false;
  const n = Math.min(count, groups.length);
  const order = groups.map((_, i) => i);
  const disturbance = { kind: 'delay', intensity: d.delayMs, forMs: d.duty * d.periodMs } as const;
  const tick = (): void => {
    if (stopped) return;
    // A partial Fisher-Yates shuffle: the first n of `order` are this period's distinct picks.
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(rng.next() * (order.length - i));
      [order[i], order[j]] = [order[j]!, order[i]!];
      const group = groups[order[i]!]!;
      clock.setTimeout(() => {
        if (stopped) return;
        for (const inst of group) inst.disturb(disturbance);
      }, rng.next() * d.periodMs, true);
    }
    clock.setTimeout(tick, d.periodMs, true);
  };
  tick();
  return () => {
    stopped = true;
  };
}

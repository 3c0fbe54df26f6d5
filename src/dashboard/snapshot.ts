// The dashboard feed's data: one JSON snapshot per interval of every deployment (windowed latency
// percentiles of answered requests, rates from the engine's counters, queue depths, instances with
// their faults), and the recent history of the chart series. Assembled here, sent by feed.ts; the
// message format is the contract in docs/protocol.md ("Dashboard feed").
import { faultTargets } from '../engine/faults.js';
import { DEFAULTS } from '../engine/options.js';
import type { Engine, EngineMetrics, FaultSpec, InstanceHealth, Mode } from '../engine/types.js';
import { LatencyWindow, type WindowPercentiles } from './latency-window.js';

/** An instance as the dashboard shows it: its health and the faults that target it. */
export interface InstanceSnapshot extends InstanceHealth {
  faults: FaultSpec[];
}

/** Engine counters since the engine started. */
export interface DeploymentTotals {
  queries: number;
  answered: number;
  reconstructions: number;
  lateOriginalsDiscarded: number;
  errors: number;
  restarts: number;
  rejected: number;
}

/** Per second, over the interval since the previous snapshot (0 in the first one). */
export interface DeploymentRates {
  answered: number;
  reconstructions: number;
  lateOriginalsDiscarded: number;
  errors: number;
}

export interface DeploymentSnapshot {
  name: string;
  mode: Mode;
  k: number;
  /** Ready for traffic (as /v2/models/{m}/ready). */
  ready: boolean;
  /** Successful requests answered by the network front in the last `windowSec` seconds (ms). */
  latencyMs: WindowPercentiles;
  rates: DeploymentRates;
  totals: DeploymentTotals;
  queueDepth: { deployed: number; parity: number };
  instances: InstanceSnapshot[];
  /** Every fault in force on this deployment (as setFaults takes them). */
  faults: FaultSpec[];
}

/** One point of a deployment's chart series, taken with each snapshot. */
export interface HistoryPoint {
  /** ms since the epoch */
  time: number;
  p50: number;
  p99: number;
  p999: number;
  answered: number;
  reconstructions: number;
}

/** The built-in load generator, while one runs or until the next one starts (load.ts). */
export interface LoadStatus {
  model: string;
  /** Queries per second offered (open loop). */
  rate: number;
  seconds: number;
  elapsedSec: number;
  running: boolean;
  sent: number;
  answered: number;
  reconstructed: number;
  errors: number;
  /** Where the images come from, e.g. "fashion-mnist test set (10000 images)". */
  source: string;
  /** The last error answer's message, if any. */
  lastError?: string;
}

export interface DashboardSnapshot {
  /** ms since the epoch (server clock) */
  time: number;
  /** 1, 2, ... per server; a gap means a client missed snapshots. */
  seq: number;
  intervalMs: number;
  windowSec: number;
  /** Whether the fault and load controls are enabled (parm serve --dashboard-controls). */
  controls: boolean;
  deployments: DeploymentSnapshot[];
  load: LoadStatus | null;
  /** Only in the first message on a connection: each deployment's last points, oldest first. */
  history?: Record<string, HistoryPoint[]>;
}

export interface SamplerOptions {
  /** Sliding window of the latency percentiles, in seconds. */
  windowSec: number;
  /** Points of history kept per deployment. */
  historyLength: number;
  intervalMs: number;
  controls: boolean;
}

export const SAMPLER_DEFAULTS: SamplerOptions = { windowSec: 10, historyLength: 300, intervalMs: 1000, controls: false };

interface Previous {
  time: number;
  metrics: EngineMetrics;
}

/**
 * Turns engine metrics and recorded latencies into snapshots. `record` is fed with every answered
 * request; `sample` is called once per interval and advances the rates and the history.
 */
export class DashboardSampler {
  readonly options: SamplerOptions;
  private readonly windows = new Map<string, LatencyWindow>();
  private readonly previous = new Map<string, Previous>();
  private readonly series = new Map<string, HistoryPoint[]>();
  private seq = 0;
  private last: DashboardSnapshot | undefined;

  constructor(
    private readonly engines: ReadonlyMap<string, Engine>,
    options: Partial<SamplerOptions> = {},
    /** ms since the epoch */
    private readonly now: () => number = Date.now,
  ) {
    // An option given as undefined keeps its default.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.options = { ...SAMPLER_DEFAULTS, ...given };
    for (const name of engines.keys()) {
      this.windows.set(name, new LatencyWindow(this.options.windowSec));
      this.series.set(name, []);
    }
  }

  /** One successful request of deployment `model`, answered now, that took `ms`; unknown models are ignored. */
  record(model: string, ms: number): void {
    this.windows.get(model)?.record(ms, this.now());
  }

  /** A new snapshot of every deployment (reads each engine's metrics() once). */
  sample(load: LoadStatus | null = null): DashboardSnapshot {
    const time = this.now();
    const deployments: DeploymentSnapshot[] = [];
    for (const [name, engine] of this.engines) {
      const m = engine.metrics();
      const d = this.deployment(name, engine, m, time);
      deployments.push(d);
      const points = this.series.get(name)!;
      points.push({ time, p50: d.latencyMs.p50, p99: d.latencyMs.p99, p999: d.latencyMs.p999, answered: d.rates.answered, reconstructions: d.rates.reconstructions });
      if (points.length > this.options.historyLength) points.splice(0, points.length - this.options.historyLength);
      this.previous.set(name, { time, metrics: m });
    }
    const o = this.options;
    this.last = { time, seq: ++this.seq, intervalMs: o.intervalMs, windowSec: o.windowSec, controls: o.controls, deployments, load };
    return this.last;
  }

  /** The last snapshot taken, if any. */
  latest(): DashboardSnapshot | undefined {
    return this.last;
  }

  /** Each deployment's history points, oldest first (copies). */
  history(): Record<string, HistoryPoint[]> {
    const out: Record<string, HistoryPoint[]> = {};
    for (const [name, points] of this.series) out[name] = points.slice();
    return out;
  }

  private deployment(name: string, engine: Engine, m: EngineMetrics, time: number): DeploymentSnapshot {
    const prev = this.previous.get(name);
    const seconds = prev ? (time - prev.time) / 1000 : 0;
    const rate = (pick: (x: EngineMetrics) => number): number => (prev && seconds > 0 ? Math.max(0, pick(m) - pick(prev.metrics)) / seconds : 0);
    const hasParity = m.instances.some((i) => i.role === 'parity');
    return {
      name,
      // Without an explicit mode the engine runs parm exactly when it has parity models.
      mode: engine.options.mode ?? (hasParity ? 'parm' : 'none'),
      k: engine.options.k ?? DEFAULTS.k,
      ready: engine.isReady(),
      latencyMs: this.windows.get(name)!.percentiles(time),
      rates: {
        answered: rate((x) => x.answered),
        reconstructions: rate((x) => x.reconstructions),
        lateOriginalsDiscarded: rate((x) => x.lateOriginalsDiscarded),
        errors: rate((x) => x.errors),
      },
      totals: {
        queries: m.queries,
        answered: m.answered,
        reconstructions: m.reconstructions,
        lateOriginalsDiscarded: m.lateOriginalsDiscarded,
        errors: m.errors,
        restarts: m.restarts,
        rejected: m.rejected,
      },
      queueDepth: { ...m.queueDepth },
      instances: m.instances.map((i) => ({ ...i, faults: m.faults.filter((f) => faultTargets(f.instance, i.id, i.role)) })),
      faults: m.faults,
    };
  }
}

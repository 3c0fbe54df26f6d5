// Engine counters and HdrHistogram latency per answer kind (original, reconstructed, all).
import * as hdr from 'hdr-histogram-js';
import type { EngineMetrics, FaultSpec, InstanceHealth, LatencySummary } from './types.js';

export type AnswerKind = 'original' | 'reconstructed';

/** Latencies are recorded in microseconds (3 significant digits, up to one hour). */
function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

/** The engine's monotonic counters; each is incremented by the module named beside it. */
export class Counters {
  /** QueryBook.accept */
  queries = 0;
  /** QueryBook (resolved queries) */
  answered = 0;
  reconstructions = 0;
  /** ResultRouter: originals that came after their unit was answered */
  lateOriginalsDiscarded = 0;
  /** Scheduler: queued data tasks dropped */
  cancellations = 0;
  /** Recovery */
  retries = 0;
  /** QueryBook.fail */
  errors = 0;
  /** ResultRouter.onDown */
  restarts = 0;
  /** ParmEngine.infer (admission refused) */
  rejected = 0;
  /** Scheduler (hedged mode) */
  hedges = 0;
  /** CodingWindow and ParityCoding */
  groups = 0;
  partialGroups = 0;
  unprotected = 0;
  /** Scheduler: queued parity tasks dropped */
  parityCancelled = 0;
  /** Scheduler: running remote requests aborted after a reconstruction answered */
  abandoned = 0;
  /** ParityStart: parity tasks never started because every member answered within the deferral */
  paritySkipped = 0;
}

/** The EngineMetrics snapshot of the counters, queue depths, instances, latencies, run times and faults in force. */
export function snapshot(
  c: Counters,
  queueDepth: EngineMetrics['queueDepth'],
  instances: InstanceHealth[],
  latency: Record<string, LatencySummary>,
  runTime: EngineMetrics['runTime'],
  runTimeSent: EngineMetrics['runTimeSent'],
  faults: readonly FaultSpec[],
): EngineMetrics {
  return {
    queries: c.queries,
    answered: c.answered,
    reconstructions: c.reconstructions,
    lateOriginalsDiscarded: c.lateOriginalsDiscarded,
    cancellations: c.cancellations,
    retries: c.retries,
    errors: c.errors,
    restarts: c.restarts,
    rejected: c.rejected,
    hedges: c.hedges,
    groups: c.groups,
    partialGroups: c.partialGroups,
    unprotected: c.unprotected,
    parityCancelled: c.parityCancelled,
    abandoned: c.abandoned,
    paritySkipped: c.paritySkipped,
    queueDepth,
    instances,
    latency,
    runTime,
    runTimeSent,
    faults: faults.map((f) => ({ ...f })),
  };
}

/**
 * Probabilities at which run times are reported (EngineMetrics.runTime): dense in the tail, where
 * a simulation calibrated on them (`parm simulate`) needs them.
 */
export const RUN_TIME_QUANTILES = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1];

/**
 * Idle classes of a run (EngineMetrics.runTime[role].byIdle): how long its instance had been
 * without work before it, in ms, each class from the previous bound up to (not including) its own;
 * the last is unbounded. A run right after another is faster than one after a few ms of idleness
 * (`npm run bench:idle`: 5.8x for the session alone; about 1.6x as the engine measures a run, its
 * messages and wake-up included), and `parm simulate` draws each simulated run from the class of
 * its own idle time.
 */
export const RUN_IDLE_CLASSES_MS = [0.2, 1, 5, Infinity];

/** An idle class's bound as a Prometheus label value: its ms, or `+Inf` for the unbounded last class. */
export function idleClassLabel(boundMs: number): string {
  return boundMs === Infinity ? '+Inf' : String(boundMs);
}

/**
 * Bounds (ms) of the run-time histogram (parm_engine_run_ms): eight per octave (each about 9 %
 * above the last) from 1/32 ms to 2048 ms, the powers of two among them, at four significant digits, so a window's quantiles can be
 * read from the difference of two scrapes (`parm simulate --validate` covers the measured window
 * alone this way) or with Prometheus' rate(); runs above the last bound count in +Inf only.
 */
export const RUN_TIME_BUCKETS_MS: readonly number[] = Array.from({ length: 129 }, (_, i) => Number((2 ** (i / 8 - 5)).toPrecision(4)));

/** The bucket of a run time in RUN_TIME_BUCKETS_MS: the first bound at or above it (RUN_TIME_BUCKETS_MS.length: above all). */
export function runTimeBucket(ms: number): number {
  const b = RUN_TIME_BUCKETS_MS;
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= b[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The class of an idle time in RUN_IDLE_CLASSES_MS (an unbounded idle time is in the last). */
export function idleClass(idleMs: number): number {
  const last = RUN_IDLE_CLASSES_MS.length - 1;
  let i = 0;
  while (i < last && idleMs >= RUN_IDLE_CLASSES_MS[i]!) i++;
  return i;
}

/** How long instances took per task (from being handed the task to its result), by role, and by role and idle class. */
export class RunTimes {
  private readonly h = { deployed: histogram(), parity: histogram() };
  private readonly byIdle = { deployed: RUN_IDLE_CLASSES_MS.map(histogram), parity: RUN_IDLE_CLASSES_MS.map(histogram) };
  /** Per role and idle class: runs per bucket of RUN_TIME_BUCKETS_MS (not cumulative, the last above every bound) and their sum (ms). */
  private readonly buckets = { deployed: RUN_IDLE_CLASSES_MS.map(() => new Float64Array(RUN_TIME_BUCKETS_MS.length + 1)), parity: RUN_IDLE_CLASSES_MS.map(() => new Float64Array(RUN_TIME_BUCKETS_MS.length + 1)) };
  private readonly sumMs = { deployed: RUN_IDLE_CLASSES_MS.map(() => 0), parity: RUN_IDLE_CLASSES_MS.map(() => 0) };

  /** `idleMs`: how long the instance had been without work when it was handed the task. */
  record(role: 'deployed' | 'parity', ms: number, idleMs: number): void {
    const us = Math.max(1, Math.min(Math.round(ms * 1000), 3_600_000_000));
    const c = idleClass(idleMs);
    this.h[role].recordValue(us);
    this.byIdle[role][c]!.recordValue(us);
    this.buckets[role][c]![runTimeBucket(ms)]!++;
    this.sumMs[role][c]! += ms;
  }

  /** Per role: tasks measured and run time (ms) at each of RUN_TIME_QUANTILES, in all and per idle class (with its histogram). */
  summary(): EngineMetrics['runTime'] {
    const one = (h: hdr.Histogram) => ({
      count: h.totalCount,
      quantiles: RUN_TIME_QUANTILES.map((p) => (h.totalCount === 0 ? 0 : (p === 0 ? h.minNonZeroValue : p === 1 ? h.maxValue : h.getValueAtPercentile(p * 100)) / 1000)),
    });
    const role = (r: 'deployed' | 'parity') => ({
      ...one(this.h[r]),
      byIdle: this.byIdle[r].map((h, i) => ({ idleBelowMs: RUN_IDLE_CLASSES_MS[i]!, ...one(h), buckets: Array.from(this.buckets[r][i]!), sumMs: this.sumMs[r][i]! })),
    });
    return { deployed: role('deployed'), parity: role('parity') };
  }
}

export class Latencies {
  private readonly h: Record<'original' | 'reconstructed' | 'all', hdr.Histogram> = {
    original: histogram(),
    reconstructed: histogram(),
    all: histogram(),
  };

  /**
   * Sum of the recorded values (µs) per kind: the mean comes from it, because the histogram's own
   * `mean` walks every bucket (milliseconds per call on a full histogram, and metrics() is read
   * every second by the dashboard and at every scrape).
   */
  private readonly sumUs: Record<'original' | 'reconstructed' | 'all', number> = { original: 0, reconstructed: 0, all: 0 };

  record(kind: AnswerKind, ms: number): void {
    const us = Math.max(1, Math.min(Math.round(ms * 1000), 3_600_000_000));
    this.h[kind].recordValue(us);
    this.h.all.recordValue(us);
    this.sumUs[kind] += us;
    this.sumUs.all += us;
  }

  summary(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const kind of ['original', 'reconstructed', 'all'] as const) {
      const h = this.h[kind];
      const c = h.totalCount;
      const q = (p: number): number => (c === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
      out[kind] = { count: c, mean: c === 0 ? 0 : this.sumUs[kind] / c / 1000, p50: q(50), p90: q(90), p99: q(99), p999: q(99.9), max: c === 0 ? 0 : h.maxValue / 1000 };
    }
    return out;
  }
}

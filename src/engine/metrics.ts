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
}

/** The EngineMetrics snapshot of the counters, queue depths, instances, latencies and faults in force. */
export function snapshot(
  c: Counters,
  queueDepth: EngineMetrics['queueDepth'],
  instances: InstanceHealth[],
  latency: Record<string, LatencySummary>,
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
    queueDepth,
    instances,
    latency,
    faults: faults.map((f) => ({ ...f })),
  };
}

export class Latencies {
  private readonly h: Record<'original' | 'reconstructed' | 'all', hdr.Histogram> = {
    original: histogram(),
    reconstructed: histogram(),
    all: histogram(),
  };

  record(kind: AnswerKind, ms: number): void {
    const us = Math.max(1, Math.min(Math.round(ms * 1000), 3_600_000_000));
    this.h[kind].recordValue(us);
    this.h.all.recordValue(us);
  }

  summary(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const [kind, h] of Object.entries(this.h)) {
      const c = h.totalCount;
      const q = (p: number): number => (c === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
      out[kind] = { count: c, mean: c === 0 ? 0 : h.mean / 1000, p50: q(50), p90: q(90), p99: q(99), p999: q(99.9), max: c === 0 ? 0 : h.maxValue / 1000 };
    }
    return out;
  }
}

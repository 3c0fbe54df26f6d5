// Engine counters and HdrHistogram latency per answer kind (original, reconstructed, all).
import * as hdr from 'hdr-histogram-js';
import type { LatencySummary } from './types.js';

export type AnswerKind = 'original' | 'reconstructed';

/** Latencies are recorded in microseconds (3 significant digits, up to one hour). */
function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

export class Counters {
  queries = 0;
  answered = 0;
  reconstructions = 0;
  lateOriginalsDiscarded = 0;
  cancellations = 0;
  retries = 0;
  errors = 0;
  restarts = 0;
  rejected = 0;
  hedges = 0;
  groups = 0;
  partialGroups = 0;
  unprotected = 0;
  parityCancelled = 0;
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

// Latency percentiles over a sliding window of the last few seconds: one HdrHistogram per second in
// a ring, so that a percentile of "the last W seconds" is the merge of W small histograms and old
// seconds fall out without keeping every sample.
import * as hdr from 'hdr-histogram-js';

/** Values are recorded in microseconds, 3 significant digits, up to this (longer ones count as this). */
const MAX_US = 3_600_000_000;

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_US, numberOfSignificantValueDigits: 3 });
}

export interface WindowPercentiles {
  /** Samples in the window. */
  count: number;
  /** Milliseconds; 0 when the window holds no sample. */
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/**
 * The samples of the current second and the `seconds - 1` before it (whole seconds of the clock
 * handed to record and percentiles: `Math.floor(nowMs / 1000)`). Recording costs one histogram
 * update; a percentile query merges at most `seconds` histograms.
 */
export class LatencyWindow {
  private readonly slots: hdr.Histogram[];
  /** The second each slot holds; -1 for a slot never used. */
  private readonly slotSecond: number[];
  private readonly merged = histogram();

  constructor(readonly seconds: number) {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) throw new RangeError(`window seconds must be an integer in [1, 3600], got ${seconds}`);
    this.slots = Array.from({ length: seconds }, histogram);
    this.slotSecond = new Array<number>(seconds).fill(-1);
  }

  /** One answered request's latency `ms`, answered at `nowMs` (ms since the epoch). */
  record(ms: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const i = second % this.seconds;
    if (this.slotSecond[i] !== second) {
      this.slots[i]!.reset();
      this.slotSecond[i] = second;
    }
    this.slots[i]!.recordValue(Math.max(1, Math.min(Math.round(ms * 1000), MAX_US)));
  }

  /** Percentiles over the window that ends at `nowMs`. */
  percentiles(nowMs: number): WindowPercentiles {
    const now = Math.floor(nowMs / 1000);
    const h = this.merged;
    h.reset();
    for (let i = 0; i < this.seconds; i++) {
      const s = this.slotSecond[i]!;
      if (s > now - this.seconds && s <= now) h.add(this.slots[i]!);
    }
    const count = h.totalCount;
    const q = (p: number): number => (count === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
    return { count, p50: q(50), p99: q(99), p999: q(99.9), max: count === 0 ? 0 : h.maxValue / 1000 };
  }
}

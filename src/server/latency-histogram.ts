// The front's request latency histogram (parm_request_duration_seconds), kept as plain counts per
// label set: observing an answer finds its bucket and adds to a few numbers, with no label object,
// hash string or lookup per answer (prom-client's Histogram makes all three on every observe,
// about 0.5 KB of garbage per request at thousands of requests a second). A scrape reads it
// through the registry like any prom-client metric (a metric object with `get()`), in the text
// prom-client's own Histogram writes: `_bucket` with `le` first, then `_sum` and `_count`.
import type { Registry } from 'prom-client';

/** One line of the scrape: a bucket, the sum or the count of one label set. */
interface HistogramValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One label set's counts; `observe` is on every successful answer's path. */
export class LatencySeries {
  /** Observations per bucket, not cumulative; the last is above every bound. */
  private readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Observations at or under each bound, in bound order. */
  cumulative(): number[] {
    let acc = 0;
    return this.bounds.map((_, i) => (acc += this.counts[i]!));
  }
}

export class LatencyHistogram {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly all: LatencySeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    if (bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) throw new Error(`${name}: bucket bounds must be finite and increasing`);
    registry.registerMetric(this as never);
  }

  /** A new label set's series: the caller keeps it and observes into it (one per label set). */
  series(labels: Record<string, string>): LatencySeries {
    const s = new LatencySeries({ ...labels }, this.bounds);
    this.all.push(s);
    return s;
  }

  /** The scrape's view, in prom-client's format for a histogram; a label set shows once observed. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const values: HistogramValue[] = [];
    for (const s of this.all) {
      if (s.count === 0) continue;
      const cum = s.cumulative();
      this.bounds.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cum[i]! }));
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

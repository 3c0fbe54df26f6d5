// The engines' run-time histogram for /metrics (parm_engine_run_ms): per deployment, role and idle
// class, the runs per bucket of RUN_TIME_BUCKETS_MS as the engine counted them, written as a
// Prometheus histogram (`_bucket` with `le` first, then `_sum` and `_count`) through the registry's
// metric-object interface, like LatencyHistogram. Unlike the run-time quantile gauges, which cover
// the process's whole life, a histogram's window is any two scrapes apart.
import type { Registry } from 'prom-client';
import { RUN_TIME_BUCKETS_MS, idleClassLabel } from '../engine/metrics.js';
import type { EngineMetrics } from '../engine/types.js';

interface HistogramValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class RunTimeHistogram {
  readonly name = 'parm_engine_run_ms';
  readonly help = 'Run time of a task on an instance (handed over to result, ms), by role and by how long the instance had been without work before the run (idle_below_ms, as parm_engine_run_time_by_idle_ms); an idle class with no runs is left out';
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;

  /** `engines`: each deployment's metrics in the scrape in progress. */
  constructor(
    private readonly engines: () => Iterable<[model: string, metrics: EngineMetrics]>,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  get(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramValue[]; aggregator: 'sum' }> {
    const values: HistogramValue[] = [];
    for (const [model, m] of this.engines()) {
      for (const role of ['deployed', 'parity'] as const) {
        for (const c of m.runTime[role].byIdle) {
          if (c.count === 0) continue;
          const labels = { model, role, idle_below_ms: idleClassLabel(c.idleBelowMs) };
          let acc = 0;
          RUN_TIME_BUCKETS_MS.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: (acc += c.buckets[i]!) }));
          values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: acc + c.buckets[RUN_TIME_BUCKETS_MS.length]! });
          values.push({ metricName: `${this.name}_sum`, labels, value: c.sumMs });
          values.push({ metricName: `${this.name}_count`, labels, value: c.count });
        }
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}

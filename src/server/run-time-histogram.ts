// The engines' run-time histogram for /metrics (parm_engine_run_ms): per deployment, role and idle
// class, the runs per bucket of RUN_TIME_BUCKETS_MS as the engine counted them, as a Prometheus
// histogram (`_bucket` with `le` first, then `_sum` and `_count`). Unlike the run-time quantile
// gauges, which cover the process's whole life, a histogram's window is any two scrapes apart.
// It is written here rather than through prom-client's registry: at 130 lines per series and
// eight series per deployment, the registry's generic formatting takes 1.7-1.8 ms of the server's
// main thread per deployment and scrape, this 0.12 ms (`npm run bench:scrape`; the label text of
// a series is built once per scrape, each bound's once per process).
import { RUN_TIME_BUCKETS_MS, idleClassLabel } from '../engine/metrics.js';
import type { EngineMetrics } from '../engine/types.js';

const NAME = 'parm_engine_run_ms';
const HELP =
  'Run time of a task on an instance (handed over to result, ms), by role and by how long the instance had been without work before the run (idle_below_ms, as parm_engine_run_time_by_idle_ms); an idle class with no runs is left out';
/** Each bucket's line start, `le` first as prom-client writes it. */
const BUCKET_PREFIX = [...RUN_TIME_BUCKETS_MS.map(String), '+Inf'].map((le) => `${NAME}_bucket{le="${le}",`);

/** A label value as the Prometheus text format escapes it. */
function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The exposition text of every deployment's run-time histograms (empty where no deployment has a run), ending with a newline. */
export function runTimeHistogramText(engines: Iterable<[model: string, metrics: EngineMetrics]>): string {
  const lines: string[] = [];
  for (const [model, m] of engines) {
    for (const role of ['deployed', 'parity'] as const) {
      for (const c of m.runTime[role].byIdle) {
        if (c.count === 0) continue;
        const labels = `model="${escape(model)}",role="${role}",idle_below_ms="${idleClassLabel(c.idleBelowMs)}"}`;
        let acc = 0;
        for (let i = 0; i < BUCKET_PREFIX.length; i++) lines.push(`${BUCKET_PREFIX[i]}${labels} ${(acc += c.buckets[i]!)}`);
        lines.push(`${NAME}_sum{${labels} ${c.sumMs}`, `${NAME}_count{${labels} ${c.count}`);
      }
    }
  }
  return lines.length === 0 ? '' : `# HELP ${NAME} ${HELP}\n# TYPE ${NAME} histogram\n${lines.join('\n')}\n`;
}

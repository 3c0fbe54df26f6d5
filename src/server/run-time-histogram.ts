// The engines' run-time histograms for /metrics: parm_engine_run_ms (handed over to result, as
// the engine sees it) and parm_engine_run_sent_ms (handed over to the instance sending its result,
// without the result's wait for the engine's thread), per deployment, role and idle class, the
// runs per bucket of RUN_TIME_BUCKETS_MS as the engine counted them, as Prometheus histograms
// (`_bucket` with `le` first, then `_sum` and `_count`). Unlike the run-time quantile gauges,
// which cover the process's whole life, a histogram's window is any two scrapes apart.
// It is written here rather than through prom-client's registry: at 130 lines per series and
// eight series per deployment, the registry's generic formatting takes 1.7-1.8 ms of the server's
// main thread per deployment and scrape, this 0.12 ms (`npm run bench:scrape`; the label text of
// a series is built once per scrape, each bound's once per process).
import { RUN_TIME_BUCKETS_MS, idleClassLabel } from '../engine/metrics.js';
import type { EngineMetrics } from '../engine/types.js';

const IDLE_HELP = 'by role and by how long the instance had been without work before the run (idle_below_ms, as parm_engine_run_time_by_idle_ms); an idle class with no runs is left out';

/** The histograms written, each from its EngineMetrics field. */
const HISTOGRAMS = [
  { name: 'parm_engine_run_ms', field: 'runTime', help: `Run time of a task on an instance (handed over to result, ms), ${IDLE_HELP}` },
  {
    name: 'parm_engine_run_sent_ms',
    field: 'runTimeSent',
    help: `Run time of a task on an instance until the instance sent its result (ms; without the result's wait for the server's main thread; local instances only), ${IDLE_HELP}`,
  },
] as const;

/** Each histogram's bucket line starts, `le` first as prom-client writes it. */
const BUCKET_PREFIX = new Map(HISTOGRAMS.map((h) => [h.name, [...RUN_TIME_BUCKETS_MS.map(String), '+Inf'].map((le) => `${h.name}_bucket{le="${le}",`)]));

/** A label value as the Prometheus text format escapes it. */
function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** The exposition text of every deployment's run-time histograms (a histogram no deployment has a run in is left out), ending with a newline. */
export function runTimeHistogramText(engines: Iterable<[model: string, metrics: EngineMetrics]>): string {
  const all = Array.from(engines);
  let text = '';
  for (const { name, field, help } of HISTOGRAMS) {
    const prefix = BUCKET_PREFIX.get(name)!;
    const lines: string[] = [];
    for (const [model, m] of all) {
      for (const role of ['deployed', 'parity'] as const) {
        for (const c of m[field][role].byIdle) {
          if (c.count === 0) continue;
          const labels = `model="${escape(model)}",role="${role}",idle_below_ms="${idleClassLabel(c.idleBelowMs)}"}`;
          let acc = 0;
          for (let i = 0; i < prefix.length; i++) lines.push(`${prefix[i]}${labels} ${(acc += c.buckets[i]!)}`);
          lines.push(`${name}_sum{${labels} ${c.sumMs}`, `${name}_count{${labels} ${c.count}`);
        }
      }
    }
    if (lines.length > 0) text += `# HELP ${name} ${help}\n# TYPE ${name} histogram\n${lines.join('\n')}\n`;
  }
  return text;
}

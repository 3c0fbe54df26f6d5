// /metrics scrape benchmark (`npm run bench:scrape`): how long one scrape holds the server's main
// thread for a deployment whose run-time histogram (parm_engine_run_ms) has all eight role and
// idle-class series, beside the histogram's text alone (src/server/run-time-histogram.ts: what it
// adds to the scrape) and the same histogram lines through prom-client's registry formatter (what
// run-time-histogram.ts avoids). Options: --scrapes=N (default 200) --json
import { cpus, loadavg } from 'node:os';
import { Registry } from 'prom-client';
import { Counters, Latencies, RUN_IDLE_CLASSES_MS, RUN_TIME_BUCKETS_MS, RunTimes, idleClassLabel, snapshot } from '../src/engine/metrics.js';
import type { Engine, EngineMetrics } from '../src/engine/types.js';
import { ServerMetrics } from '../src/server/metrics.js';
import { runTimeHistogramText } from '../src/server/run-time-histogram.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SCRAPES = Number(args.get('scrapes') ?? 200);

/** A deployment's metrics with runs in every role and idle class. */
function fullMetrics(): EngineMetrics {
  const runs = new RunTimes();
  const idle = RUN_IDLE_CLASSES_MS.map((b) => (b === Infinity ? 9 : b / 2));
  for (let i = 0; i < 20_000; i++) {
    runs.record('deployed', 0.2 + Math.random() * 5, idle[i % idle.length]!);
    runs.record('parity', 0.3 + Math.random() * 4, idle[i % idle.length]!);
  }
  return snapshot(new Counters(), { deployed: 0, parity: 0 }, [], new Latencies().summary(), runs.summary(), new RunTimes().summary(), []);
}

/** The histogram as a prom-client metric object, formatted by the registry (one value per line). */
function throughRegistry(m: EngineMetrics): Registry {
  const registry = new Registry();
  const name = 'parm_engine_run_ms';
  const metric = {
    name,
    help: 'run times',
    type: 'histogram',
    aggregator: 'sum',
    get: () => {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const role of ['deployed', 'parity'] as const) {
        for (const c of m.runTime[role].byIdle) {
          const labels = { model: 'm', role, idle_below_ms: idleClassLabel(c.idleBelowMs) };
          let acc = 0;
          RUN_TIME_BUCKETS_MS.forEach((le, i) => values.push({ metricName: `${name}_bucket`, labels: { le, ...labels }, value: (acc += c.buckets[i]!) }));
          values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: c.count });
          values.push({ metricName: `${name}_sum`, labels, value: c.sumMs }, { metricName: `${name}_count`, labels, value: c.count });
        }
      }
      return Promise.resolve({ name, help: metric.help, type: metric.type, values, aggregator: metric.aggregator });
    },
  };
  registry.registerMetric(metric as never);
  return registry;
}

/** Mean ms per call of `fn` over SCRAPES calls, after a warm-up, and the length of its text. */
async function time(fn: () => string | Promise<string>): Promise<{ ms: number; bytes: number }> {
  for (let i = 0; i < 50; i++) await fn();
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) bytes = (await fn()).length;
  return { ms: (performance.now() - t0) / SCRAPES, bytes };
}

async function main(): Promise<void> {
  const m = fullMetrics();
  const withRuns = new ServerMetrics(new Map([['m', { metrics: () => m } as unknown as Engine]]));
  const registry = throughRegistry(m);
  const rows = [
    { what: 'whole scrape, histogram with 8 series', ...(await time(() => withRuns.text())) },
    { what: 'histogram text alone (run-time-histogram.ts)', ...(await time(() => runTimeHistogramText([['m', m]]))) },
    { what: "histogram through prom-client's formatter", ...(await time(() => registry.metrics())) },
  ];
  if (args.has('json')) {
    process.stdout.write(`${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, load_average: loadavg(), scrapes: SCRAPES, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`/metrics scrape on Node ${process.version}, ${cpus()[0]?.model}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${SCRAPES} scrapes each\n`);
  process.stdout.write('| what | ms per scrape | bytes |\n|---|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.what} | ${r.ms.toFixed(2)} | ${r.bytes} |\n`);
}

await main();

// GET /metrics as Prometheus text: every deployment's engine counters (not only the last one's),
// one engine snapshot per scrape, and instance health series.
import t from 'tap';
import { ServerMetrics } from '../../src/server/metrics.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/** The value of one series, e.g. series(text, 'parm_engine_queries_total', 'model="a"'). */
function series(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('several deployments: each keeps its own engine counters', async (t) => {
  const a = new FakeEngine({ name: 'mlp' });
  const b = new FakeEngine({ name: 'cnn' });
  const x = new Float32Array(784).fill(0.5);
  await Promise.all([a.infer(x), a.infer(x), a.infer(x), b.infer(x)]);
  const m = new ServerMetrics(new Map([['mlp', a], ['cnn', b]]));
  const text = await m.text();
  t.equal(series(text, 'parm_engine_queries_total', 'model="mlp"'), 3);
  t.equal(series(text, 'parm_engine_queries_total', 'model="cnn"'), 1);
  t.equal(series(text, 'parm_engine_answered_total', 'model="mlp"'), 3);
  t.equal(series(text, 'parm_engine_answered_total', 'model="cnn"'), 1);
  // A second scrape reads the engines again (no stale snapshot).
  await b.infer(x);
  t.equal(series(await m.text(), 'parm_engine_queries_total', 'model="cnn"'), 2);
});

t.test('each scrape reads every engine once', async (t) => {
  const a = new FakeEngine({ name: 'mlp' });
  let reads = 0;
  const metrics = a.metrics.bind(a);
  a.metrics = () => {
    reads++;
    const s = metrics();
    s.instances[0]!.suspectedHung = true;
    return s;
  };
  const m = new ServerMetrics(new Map([['mlp', a]]));
  const text = await m.text();
  t.equal(reads, 1, 'one engine.metrics() per scrape for every collector');
  t.equal(series(text, 'parm_instance_suspected_hung', 'instance="deployed-0"'), 1);
});

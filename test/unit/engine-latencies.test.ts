// The engine's latency summary (EngineMetrics.latency): counts, exact means and percentiles per kind.
import t from 'tap';
import { Latencies } from '../../src/engine/metrics.js';

t.test('means are exact per kind and over all answers', async (t) => {
  const l = new Latencies();
  for (const ms of [1, 2, 3]) l.record('original', ms);
  l.record('reconstructed', 10);
  const s = l.summary();
  t.equal(s['original']!.count, 3);
  t.equal(s['original']!.mean, 2);
  t.equal(s['reconstructed']!.mean, 10);
  t.equal(s['all']!.count, 4);
  t.equal(s['all']!.mean, 4);
  t.ok(Math.abs(s['all']!.max - 10) < 0.01);
  t.ok(Math.abs(s['original']!.p50 - 2) < 0.01);
});

t.test('an empty summary is all zeros', async (t) => {
  const s = new Latencies().summary();
  t.same(s['reconstructed'], { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
});

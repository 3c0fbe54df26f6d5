// The front's latency histogram (src/server/latency-histogram.ts) writes the same scrape text as
// prom-client's own Histogram for the same observations (bounds inclusive, label sets shown once
// observed, label values escaped), and refuses bucket bounds that are not increasing.
import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { LatencyHistogram } from '../../src/server/latency-histogram.js';

const BOUNDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

t.test('the scrape text is prom-client Histogram\'s, observation for observation', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'x_seconds', help: 'latency', labelNames: ['model', 'transport', 'reconstructed'], buckets: BOUNDS, registers: [theirs] });
  const h = new LatencyHistogram('x_seconds', 'latency', BOUNDS, ours);
  const labels = [
    { model: 'm', transport: 'ws', reconstructed: 'false' },
    { model: 'm', transport: 'ws', reconstructed: 'true' },
    { model: 'quote"d\\name', transport: 'http', reconstructed: 'false' },
  ];
  const series = labels.map((l) => h.series(l));
  // On the bounds, between them, under the first and over the last.
  const values = [0.0005, 0.0004, 0.001, 0.0011, 7, 0.02, 0.3, 1e-9, 5, 0.05];
  values.forEach((v, i) => {
    const which = i % 3 === 2 ? 2 : 0;
    reference.observe(labels[which]!, v);
    series[which]!.observe(v);
  });
  t.equal(await ours.metrics(), await theirs.metrics());
  t.notMatch(await ours.metrics(), /reconstructed="true"/, 'a label set never observed is not shown');
  series[1]!.observe(0.003);
  t.match(await ours.metrics(), /x_seconds_count\{model="m",transport="ws",reconstructed="true"\} 1/);
});

t.test('bucket bounds must be finite and increasing', async (t) => {
  t.throws(() => new LatencyHistogram('a', 'h', [0.1, 0.1], new Registry()), /increasing/);
  t.throws(() => new LatencyHistogram('b', 'h', [0.1, Infinity], new Registry()), /finite/);
});

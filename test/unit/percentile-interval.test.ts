// The precision of a measured percentile (order-statistic intervals) and the slow fraction that
// `parm simulate --validate` prints beside its errors.
import t from 'tap';
import { fractionAbove, percentileInterval } from '../../src/sim/percentile-interval.js';

t.test('the 95 % interval of a percentile brackets it and narrows with the sample', async (t) => {
  const sample = (n: number) => Float64Array.from({ length: n }, (_, i) => (i + 0.5) / n);
  for (const p of [0.5, 0.99, 0.999]) {
    const [lo, hi] = percentileInterval(sample(100_000), p);
    t.ok(lo < p && p < hi, `p${p * 100}: ${lo} < ${p} < ${hi}`);
    // Binomial: the half width is 1.96 sqrt(p (1 - p) / n).
    const half = 1.96 * Math.sqrt((p * (1 - p)) / 100_000);
    t.ok(Math.abs(hi - lo - 2 * half) < 3e-5, `width ${hi - lo} is 2 x ${half}`);
  }
  const [lo, hi] = percentileInterval(sample(1000), 0.99);
  t.ok(hi - lo > 0.01, 'a thousand answers measure p99 to about +-0.6 %');
  t.same(percentileInterval(sample(10), 0.999), [0.95, 0.95], 'ten answers cannot bracket p99.9: both ends are the largest');
  t.ok(percentileInterval(new Float64Array(0), 0.5).every(Number.isNaN));
});

t.test('a cliff: 1 % of answers at 50 ms makes the p99 interval span both sides', async (t) => {
  const n = 2000;
  const l = Float64Array.from({ length: n }, (_, i) => (i < n - 20 ? 2 + i / n : 50 + i / n)).sort();
  const [lo, hi] = percentileInterval(l, 0.99);
  t.ok(lo < 3 && hi > 50, `p99 is anywhere in ${lo.toFixed(2)}-${hi.toFixed(2)} ms`);
  t.equal(fractionAbove(l, 25), 0.01);
  t.equal(fractionAbove([], 25), 0);
});

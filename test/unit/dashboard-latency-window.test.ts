// The dashboard's sliding-window percentiles against an exact reference (sorted samples of the
// same whole seconds), on random latencies at random times of a fake clock.
import t, { type Test } from 'tap';
import { makeRng } from '../../src/bench/tail/rng.js';
import { LatencyWindow } from '../../src/dashboard/latency-window.js';

/** The sample at rank ceil(p/100 * n), as HdrHistogram defines a percentile. */
function exact(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** HdrHistogram with 3 significant digits reports the top of the sample's bucket: within 0.1 % (and 1 us). */
function close(t: Test, got: number, want: number, what: string): void {
  t.ok(got >= want - 0.001 && got <= want * 1.001 + 0.001, `${what}: ${got} within 0.1 % of ${want}`);
}

t.test('percentiles over the last W whole seconds match the exact ones', async (t) => {
  const rng = makeRng(42);
  const W = 10;
  const w = new LatencyWindow(W);
  const start = 1_700_000_000_000;
  const samples: { at: number; ms: number }[] = [];
  for (let i = 0; i < 5000; i++) {
    const at = start + Math.floor(rng.next() * 40_001);
    // Mostly around 1 ms with a heavy tail, as served answers are.
    const u = 1 - rng.next();
    const ms = Math.round((0.5 + 0.5 / Math.sqrt(u)) * 1000) / 1000;
    samples.push({ at, ms });
  }
  samples.sort((a, b) => a.at - b.at);
  // Query at several times while recording in time order (the ring reuses slots as time passes).
  const queries = [start + 5_500, start + 12_000, start + 19_999, start + 31_250, start + 40_000];
  let next = 0;
  for (const q of queries) {
    while (next < samples.length && samples[next]!.at <= q) {
      w.record(samples[next]!.ms, samples[next]!.at);
      next++;
    }
    const nowSec = Math.floor(q / 1000);
    const inWindow = samples
      .filter((s) => s.at <= q && Math.floor(s.at / 1000) > nowSec - W)
      .map((s) => s.ms)
      .sort((a, b) => a - b);
    const got = w.percentiles(q);
    t.equal(got.count, inWindow.length, `count at +${q - start} ms`);
    close(t, got.p50, exact(inWindow, 50), 'p50');
    close(t, got.p99, exact(inWindow, 99), 'p99');
    close(t, got.p999, exact(inWindow, 99.9), 'p99.9');
    close(t, got.max, inWindow[inWindow.length - 1]!, 'max');
  }
});

t.test('old seconds fall out; an empty window reads zeros; a slot is reused for a new second', async (t) => {
  const w = new LatencyWindow(3);
  t.same(w.percentiles(0), { count: 0, p50: 0, p99: 0, p999: 0, max: 0 }, 'nothing recorded');
  w.record(100, 10_000); // second 10
  w.record(1, 11_500); // second 11
  t.equal(w.percentiles(12_999).count, 2, 'seconds 10..12');
  t.equal(w.percentiles(13_000).count, 1, 'second 10 left the window at second 13');
  close(t, w.percentiles(13_000).max, 1, 'only the 1 ms sample remains');
  w.record(5, 13_100); // second 13 takes second 10's slot
  t.equal(w.percentiles(13_100).count, 2);
  t.equal(w.percentiles(60_000).count, 0, 'long after: empty');
  w.record(7, 60_000);
  t.equal(w.percentiles(60_000).count, 1, 'a stale slot is cleared when reused, not merged');
  t.throws(() => new LatencyWindow(0), RangeError);
});

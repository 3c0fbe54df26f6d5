// The tail benchmark's load generator against a localhost stand-in server: open-loop Poisson
// sends, latencies from the scheduled time, reconstructed fraction and accuracy read correctly.
import t from 'tap';
import { mergeResults, runGenerators } from '../../src/bench/tail/generators.js';
import { runLoad, type LoadOptions } from '../../src/bench/tail/loadgen.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';
import { summarize } from '../../src/bench/tail/stats.js';
import { startFakeServer } from './bench-tail-fixture.js';

const base = (url: string): LoadOptions => ({
  url,
  rate: 200,
  durationMs: 3000,
  warmupMs: 500,
  seed: 7,
  generator: 0,
  connections: 1,
  framing: 'json',
  datasetDir: DEFAULT_DATASET_DIR,
  drainTimeoutMs: 3000,
});

t.test('measures delays, reconstructed flags and accuracy (json framing, child process)', async (t) => {
  // Every 20th query 40 ms late; every 4th flagged reconstructed and answered with a wrong class.
  const server = await startFakeServer({ delayMs: (n) => (n % 20 === 3 ? 40 : 0), reconstructed: (n) => n % 4 === 1 });
  t.teardown(() => server.close());
  const { generator: _g, ...opts } = base(server.url);
  const r = await runGenerators({ ...opts, generators: 1 });
  // 2.5 s measured at 200/s: 500 expected, Poisson sd ~22.
  t.ok(r.scheduled > 400 && r.scheduled < 600, `scheduled ${r.scheduled} ~ 500`);
  t.equal(r.latenciesMs.length, r.scheduled, 'every measured query answered');
  t.equal(r.errors + r.lost, 0);
  const s = summarize(r.latenciesMs);
  // Below the injected delay, not a wall-clock bound: a loaded machine stretches every latency.
  t.ok(s.p50 < 40, `p50 ${s.p50} ms is not delayed`);
  t.ok(s.p99 >= 39, `p99 ${s.p99} ms includes the 40 ms delays`);
  // Lower bounds only: a busy shared machine can add latency, never remove the injected delay.
  const delayed = r.latenciesMs.filter((x) => x >= 40).length / r.latenciesMs.length;
  t.ok(delayed >= 0.04, `${(delayed * 100).toFixed(1)} % of latencies >= 40 ms (5 % delayed)`);
  const recon = r.reconstructed / r.latenciesMs.length;
  t.ok(Math.abs(recon - 0.25) < 0.03, `reconstructed fraction ${recon} ~ 0.25`);
  const acc = r.correct / r.latenciesMs.length;
  t.ok(Math.abs(acc - 0.75) < 0.03, `accuracy ${acc} ~ 0.75 (reconstructed answers are the wrong ones)`);
  t.ok(Math.abs(r.offeredRate - 200) < 40, `offered rate ${r.offeredRate} ~ 200/s`);
});

t.test('a server stall is charged to every query scheduled during it (no coordinated omission)', async (t) => {
  // Answers are held from 1.2 s to 1.5 s after the first query: a 300 ms stall.
  let first = 0;
  const server = await startFakeServer({
    delayMs: (_n, now) => {
      if (first === 0) first = now;
      const since = now - first;
      return since >= 1200 && since < 1500 ? 1500 - since : 0;
    },
  });
  t.teardown(() => server.close());
  const r = await runLoad(base(server.url));
  const over150 = r.latenciesMs.filter((x) => x > 150).length;
  // About rate * 0.15 s = 30 queries fell in the stall's first half.
  t.ok(over150 >= 15, `${over150} queries waited > 150 ms`);
  t.ok(summarize(r.latenciesMs).max >= 250, 'the first query of the stall waited ~300 ms');
  t.ok(Number.isFinite(r.sendLagMs.p99) && r.sendLagMs.max >= r.sendLagMs.p99, 'the generator reports its own send lag');
});

t.test('binary framing, several connections and generators, error answers', async (t) => {
  const server = await startFakeServer({ error: (n) => n % 50 === 0 });
  t.teardown(() => server.close());
  const { generator: _g, ...opts } = base(server.url);
  const r = await runGenerators({ ...opts, framing: 'binary', connections: 2, generators: 2, rate: 150, durationMs: 2000 });
  t.ok(r.scheduled > 180 && r.scheduled < 330, `scheduled ${r.scheduled} ~ 225`);
  t.ok(r.errors > 0, `error answers counted (${r.errors})`);
  t.equal(r.latenciesMs.length + r.errors, r.scheduled, 'each measured query is a latency or an error');
  t.match(r.errorSamples[0], /injected/);
  t.ok(r.correct / r.latenciesMs.length > 0.97, 'binary answers read correctly');
});

t.test("the time outside the engine: each answer's latency minus the parm_latency_ms it reports", async (t) => {
  // Answers that report no engine time, 0 ms, or far more than their latency; every 7th carries none.
  const serve = (engineMs: (n: number) => number | undefined) => startFakeServer({ engineMs, delayMs: (n) => (n % 10 === 0 ? 5 : 0) });
  const opts = { ...base(''), durationMs: 1200, warmupMs: 200 };
  const zero = await serve((n) => (n % 7 === 0 ? undefined : 0));
  t.teardown(() => zero.close());
  const a = await runLoad({ ...opts, url: zero.url });
  t.ok(a.latenciesMs.length > 100, `${a.latenciesMs.length} answers`);
  t.ok(a.outsideMs.length < a.latenciesMs.length && a.outsideMs.length > a.latenciesMs.length * 0.8, `${a.outsideMs.length} of ${a.latenciesMs.length} answers carried an engine time`);
  // With the engine's share 0 the outside time is the whole latency: every outside value is one of the latencies.
  const latencies = new Set(a.latenciesMs);
  t.ok(a.outsideMs.every((x) => latencies.has(x)), 'outside time = latency where the engine reports 0 ms');
  const none = await serve(() => undefined);
  t.teardown(() => none.close());
  t.equal((await runLoad({ ...opts, url: none.url })).outsideMs.length, 0, 'no engine times, no outside times');
  const over = await serve(() => 60_000);
  t.teardown(() => over.close());
  const b = await runLoad({ ...opts, url: over.url });
  t.equal(b.outsideMs.length, b.latenciesMs.length);
  t.ok(b.outsideMs.every((x) => x === 0), 'an engine time above the latency (clocks of two processes) counts as no time outside, never negative');
  const merged = mergeResults([a, b]);
  t.equal(merged.outsideMs.length, a.outsideMs.length + b.outsideMs.length, 'generators merged: every outside time kept');
});

t.test('same seed, same schedule and order; unanswered queries counted as lost', async (t) => {
  const server = await startFakeServer({ delayMs: (n) => (n % 20 === 0 ? 60_000 : 0) });
  t.teardown(() => server.close());
  const opts = { ...base(server.url), durationMs: 1500, warmupMs: 0, drainTimeoutMs: 300 };
  const a = await runLoad(opts);
  const b = await runLoad(opts);
  t.equal(a.scheduled, b.scheduled, 'same seed, same number of arrivals');
  t.ok(a.lost > 0, `lost ${a.lost}`);
  t.equal(a.lost + a.latenciesMs.length, a.scheduled);
  t.match(a.errorSamples.join('\n'), /unanswered/);
});

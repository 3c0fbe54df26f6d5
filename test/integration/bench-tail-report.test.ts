// The tail benchmark's pipeline without a real model: runs, records, ratios against
// equal-resources, the verdict, the table, the JSON report and the charts, with localhost
// stand-in servers whose tails are known.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Command } from 'commander';
import { register } from '../../src/cli/bench.js';
import { optionsFromFlags } from '../../src/cli/bench.js';
import { writeCharts } from '../../src/bench/tail/charts.js';
import { defaultOptions, parseModes } from '../../src/bench/tail/options.js';
import { buildReport, formatMarkdown, formatTable, machineInfo } from '../../src/bench/tail/report.js';
import { runTailBenchmark, serveConfigFor, plan } from '../../src/bench/tail/run.js';
import { startFakeServer } from './bench-tail-fixture.js';

t.test('pipeline: fake servers with known tails -> records, ratios, verdict, table, charts', async (t) => {
  const opts = {
    ...defaultOptions(true),
    modes: parseModes('none,equal-resources,parm:2'),
    rates: [80, 160],
    trials: 2,
    durationMs: 1200,
    warmupMs: 200,
  };
  const started: string[] = [];
  const outcome = await runTailBenchmark(opts, {
    // Baselines: every 25th answer 100 ms late. parm: those answers arrive "reconstructed" at once.
    startTarget: async (run) => {
      started.push(`${run.spec.label}@${run.rate}#${run.trial}`);
      const parm = run.spec.mode === 'parm';
      const server = await startFakeServer({
        delayMs: (n) => (n % 25 === 7 && !parm ? 100 : 0),
        reconstructed: (n) => parm && n % 25 === 7,
      });
      return { wsUrl: server.url, instances: null, stop: () => server.close() };
    },
  });
  t.equal(started.length, 12, 'one server per mode, load and trial');
  t.equal(outcome.records.length, 12);
  for (const r of outcome.records) {
    for (const key of ['mode', 'k', 'rate', 'trial', 'queries', 'p50_ms', 'p90_ms', 'p99_ms', 'p999_ms', 'max_ms', 'mean_ms', 'gap_ms', 'gap_ratio_vs_equal_resources', 'reconstructed_fraction', 'accuracy']) {
      t.ok(key in r, `${r.label} has ${key}`);
    }
    t.ok(r.queries > 0 && r.p50_ms > 0 && r.p50_ms <= r.p90_ms && r.p90_ms <= r.p99_ms && r.p99_ms <= r.p999_ms && r.p999_ms <= r.max_ms, `${r.label}@${r.rate}: ordered percentiles`);
    t.equal(r.gap_ms, r.p999_ms - r.p50_ms);
  }
  const er = outcome.records.filter((r) => r.mode === 'equal-resources');
  const parm = outcome.records.filter((r) => r.mode === 'parm');
  t.ok(er.every((r) => r.p999_ms >= 99 && r.gap_ratio_vs_equal_resources === 1), 'equal-resources carries the 100 ms tail, ratio 1 against itself');
  for (const p of parm) {
    const e = er.find((r) => r.rate === p.rate && r.trial === p.trial)!;
    t.equal(p.gap_ratio_vs_equal_resources, e.gap_ms / p.gap_ms, 'gap ratio = ER gap / parm gap of the same load and trial');
    t.equal(p.p50_ratio_vs_equal_resources, p.p50_ms / e.p50_ms);
  }
  // A busy machine only adds latency, so the quickest run shows the design: its delayed queries
  // were answered without the 100 ms delay.
  const sorted = parm.map((r) => r.p999_ms).sort((a, b) => a - b);
  t.ok(sorted[0]! < 99, `parm: the delayed answers came back reconstructed at once (p99.9 ${sorted.map((x) => x.toFixed(1)).join(' ')})`);
  t.ok(parm.every((r) => Math.abs(r.reconstructed_fraction - 0.04) < 0.03), 'parm: reconstructed fraction ~ 1/25');
  t.ok(parm.every((r) => r.accuracy < 0.99 && r.accuracy > 0.9), 'reconstructed (wrong-class) answers lower the accuracy');
  t.ok(er.every((r) => r.accuracy > 0.99 && r.reconstructed_fraction === 0));

  const report = buildReport({ startedAt: new Date(), command: 'test', machine: machineInfo(), options: opts, records: outcome.records, charts: [], errors: outcome.errorSamples });
  t.equal(report.summary.length, 6, 'one aggregate per mode and load');
  t.equal(report.verdict.length, 2, 'a verdict per load');
  for (const v of report.verdict) {
    t.equal(v.trials, 2);
    const expected = parm.filter((r) => r.rate === v.rate).sort((a, b) => a.trial - b.trial).map((r) => r.gap_ratio_vs_equal_resources);
    t.same(v.gap_ratios, expected, 'the verdict pairs parm k=2 with equal-resources trial by trial');
    t.equal(v.pass, v.gap_ratios.every((g) => g >= 3.5) && v.p50_diff_of_medians <= 0.1, 'gap in every trial, p50 as the median across trials');
  }
  t.ok(report.headline_rate === 80 || report.headline_rate === 160);
  const json = JSON.parse(JSON.stringify(report)) as { results: unknown[] };
  t.equal(json.results.length, 12, 'the report survives JSON');
  const table = formatTable(report);
  t.match(table, /offered load 80 queries\/s, 2 trials/);
  t.match(table, /parm k=2/);
  t.match(table, /done-when/);
  const md = formatMarkdown(report);
  t.match(md, /\| parm k=2 \| 4\+2 \| \d+ \|/, 'markdown rows');
  t.equal(md.split('\n').filter((l) => l.startsWith('|---')).length, 2, 'a markdown table per load');

  const dir = mkdtempSync(join(tmpdir(), 'bench-tail-charts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const charts = await writeCharts(report, outcome.latencies, dir);
  t.same(charts.map((c) => c.slice(dir.length + 1)).sort(), ['gap-vs-load.png', 'gap-vs-load.svg', 'percentiles.png', 'percentiles.svg', 'tail-cdf.png', 'tail-cdf.svg']);
  for (const c of charts) {
    const bytes = readFileSync(c);
    if (c.endsWith('.svg')) {
      t.match(bytes.toString(), /^<svg[\s\S]*parm k=2[\s\S]*<\/svg>$/, `${c}: an SVG with the modes in its legend`);
    } else {
      t.same([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${c}: a PNG`);
      t.ok(bytes.length > 5000, `${c}: not empty`);
    }
  }
});

t.test('a mode whose server cannot start is skipped and reported; the others run', async (t) => {
  const opts = { ...defaultOptions(true), modes: parseModes('none,parm:3'), rates: [50], trials: 2, durationMs: 800, warmupMs: 100 };
  let attempts = 0;
  const outcome = await runTailBenchmark(opts, {
    startTarget: async (run) => {
      if (run.spec.mode === 'parm') {
        attempts++;
        throw new Error('no parity model for k=3');
      }
      const server = await startFakeServer();
      return { wsUrl: server.url, instances: null, stop: () => server.close() };
    },
  });
  t.equal(attempts, 1, 'not retried in later trials');
  t.same(outcome.records.map((r) => r.label), ['none', 'none']);
  t.match(outcome.errorSamples.join('\n'), /parm k=3: server did not start, mode skipped: no parity model for k=3/);
  await t.rejects(
    runTailBenchmark({ ...opts, modes: parseModes('parm:3') }, { startTarget: async () => Promise.reject(new Error('nope')) }),
    { code: 'PARM_ERR_CLI_USAGE', message: /no run completed/ },
  );
});

t.test('serve configs: same seed for every mode, the engine sizes the baselines', async (t) => {
  const opts = { ...defaultOptions(false), instances: 4, modes: parseModes('none,equal-resources,hedged,parm:2,parm:3'), rates: [100], trials: 2 };
  const runs = plan(opts);
  t.equal(runs.length, 10);
  const byMode = (label: string, trial: number) => serveConfigFor(runs.find((r) => r.spec.label === label && r.trial === trial)!, opts).deployments[0]!;
  t.match(byMode('none', 0), { bundled: 'fashion-mnist-mlp', mode: 'none', instances: 4, threadsPerSession: 1 });
  t.notOk('k' in byMode('none', 0));
  t.match(byMode('equal-resources', 0), { mode: 'equal-resources', instances: 4, k: 2, parityInstances: 2 });
  t.match(byMode('parm k=3', 1), { mode: 'parm', instances: 4, k: 3, parityInstances: 2 });
  const seeds = runs.map((r) => [r.trial, (serveConfigFor(r, opts).deployments[0]!['background'] as { seed: number }).seed]);
  t.ok(seeds.every(([trial, seed]) => seed === opts.seed + trial!), 'background seed = seed + trial in every mode');
  t.same(runs.find((r) => r.spec.label === 'equal-resources')!.instances, { deployed: 6, parity: 0 });
  t.same(runs.find((r) => r.spec.label === 'parm k=2')!.instances, { deployed: 4, parity: 2 });
  t.not(runs[0]!.spec.label, runs[5]!.spec.label, 'mode order rotates between trials');
});

t.test('`parm bench tail --help` documents every flag; bad flags are refused', async (t) => {
  const program = new Command('parm').exitOverride();
  let help = '';
  program.configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
  register(program);
  const tail = program.commands.find((c) => c.name() === 'bench')!.commands.find((c) => c.name() === 'tail')!;
  tail.exitOverride().configureOutput({ writeOut: (s) => (help += s), writeErr: (s) => (help += s) });
  await t.rejects(program.parseAsync(['bench', 'tail', '--help'], { from: 'user' }));
  for (const flag of ['--quick', '--json', '--out', '--rates', '--trials', '--modes', '--seed', '--duration', '--warmup', '--instances', '--background ', '--background-width', '--background-period', '--background-duty', '--background-intensity', '--background-targets', '--no-background', '--hedge-delay', '--framing', '--parity-nice']) {
    t.ok(help.includes(flag), `help mentions ${flag}`);
  }
  const base = { background: undefined as unknown as string, charts: true, progress: true };
  t.throws(() => optionsFromFlags({ ...base, modes: 'parm:1' }), { code: 'PARM_ERR_CLI_USAGE' });
  t.throws(() => optionsFromFlags({ ...base, modes: 'fast' }), /unknown mode "fast"/);
  t.throws(() => optionsFromFlags({ ...base, rates: '100,-5' }), /--rates/);
  t.throws(() => optionsFromFlags({ ...base, duration: 2, warmup: 3 }), /--warmup/);
  t.throws(() => optionsFromFlags({ ...base, background: 'contention', backgroundIntensity: 3 }), /busy fraction/);
  t.throws(() => optionsFromFlags({ ...base, background: 'noise' }), /--background/);
  t.equal(optionsFromFlags({ ...base, background: false }).background, null);
  const q = optionsFromFlags({ ...base, quick: true, backgroundIntensity: 50, backgroundWidth: 2 });
  t.match(q, { trials: 1, rates: [200], framing: 'binary', background: { kind: 'delay', intensity: 50, width: 2 } });
  t.equal(q.modes.length, 6, '--quick still covers every mode');
  t.match(optionsFromFlags({ ...base, leastRecent: true, groupWait: 3 }).engine, { warmFirst: false, groupWaitMs: 3 }, '--least-recent reaches every deployment');
  t.notOk('warmFirst' in (optionsFromFlags({ ...base }).engine ?? {}), 'the engine default otherwise');
  t.match(optionsFromFlags({ ...base, parityNice: 0 }).engine, { parityNice: 0 }, '--parity-nice reaches the engine');
  t.notOk('parityNice' in (optionsFromFlags({ ...base }).engine ?? {}));
  t.ok(existsSync('/usr/share/datasets/fashion-mnist'), 'dataset present');
});

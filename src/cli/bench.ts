// `parm bench`: benchmarks run from the command line. `parm bench tail` reproduces the paper's
// tail-latency experiment against real `parm serve` processes (src/bench/tail/).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { ParmError } from '../errors.js';
import { writeCharts } from '../bench/tail/charts.js';
import { DEFAULT_MODES, defaultOptions, parseModes, parseRates, type TailBenchOptions } from '../bench/tail/options.js';
import { buildReport, formatMarkdown, formatTable, machineInfo } from '../bench/tail/report.js';
import { plan, runTailBenchmark } from '../bench/tail/run.js';

function usage(msg: string): ParmError {
  return new ParmError('PARM_ERR_CLI_USAGE', msg);
}

function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw usage(`${name}: expected an integer in [${min}, ${max}], got "${v}"`);
    return n;
  };
}

function positive(name: string, allowZero = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw usage(`${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got "${v}"`);
    return n;
  };
}

interface TailFlags {
  quick?: boolean;
  json?: boolean;
  out?: string;
  rates?: string;
  trials?: number;
  modes?: string;
  seed?: number;
  duration?: number;
  warmup?: number;
  instances?: number;
  deployment?: string;
  threads?: number;
  hedgeDelay?: number;
  leastRecent?: boolean;
  parityNice?: number;
  parityDefer?: number;
  groupWait?: number;
  decodeDeadline?: number;
  background: string | false;
  backgroundWidth?: number;
  backgroundPeriod?: number;
  backgroundDuty?: number;
  backgroundIntensity?: number;
  backgroundTargets?: 'all' | 'deployed';
  topology?: 'local' | 'hosts';
  linkRate?: number;
  linkLatency?: number;
  linkBurst?: number;
  transfers?: boolean;
  transferPeriod?: number;
  transferDuration?: number;
  framing?: 'json' | 'binary';
  connections?: number;
  generators?: number;
  dataset?: string;
  charts: boolean;
  progress: boolean;
}

/** Flags over the preset (full or --quick); exported for tests. */
export function optionsFromFlags(f: TailFlags): TailBenchOptions {
  const o = defaultOptions(Boolean(f.quick));
  if (f.modes !== undefined) o.modes = parseModes(f.modes);
  if (f.rates !== undefined) o.rates = parseRates(f.rates);
  if (f.trials !== undefined) o.trials = f.trials;
  if (f.seed !== undefined) o.seed = f.seed;
  if (f.duration !== undefined) o.durationMs = f.duration * 1000;
  if (f.warmup !== undefined) o.warmupMs = f.warmup * 1000;
  if (o.warmupMs >= o.durationMs) throw usage(`--warmup (${o.warmupMs / 1000} s) must be shorter than --duration (${o.durationMs / 1000} s)`);
  if (f.instances !== undefined) o.instances = f.instances;
  if (f.deployment !== undefined) o.deployment = f.deployment;
  if (f.threads !== undefined) o.threadsPerSession = f.threads;
  if (f.hedgeDelay !== undefined) o.hedgeDelayMs = f.hedgeDelay;
  if (f.groupWait !== undefined) o.engine = { ...o.engine, groupWaitMs: f.groupWait };
  if (f.leastRecent) o.engine = { ...o.engine, warmFirst: false };
  if (f.parityNice !== undefined) o.engine = { ...o.engine, parityNice: f.parityNice };
  if (f.parityDefer !== undefined) o.engine = { ...o.engine, parityDeferMs: f.parityDefer };
  if (f.decodeDeadline !== undefined) o.engine = { ...o.engine, decode: { kind: 'deadline', waitMs: f.decodeDeadline } };
  if (f.topology !== undefined) o.topology = f.topology;
  const hostsOnly = (flag: string, given: unknown) => {
    if (given !== undefined && o.topology !== 'hosts') throw usage(`${flag} applies to --topology hosts only`);
  };
  hostsOnly('--link-rate', f.linkRate);
  hostsOnly('--link-latency', f.linkLatency);
  hostsOnly('--link-burst', f.linkBurst);
  hostsOnly('--transfer-period', f.transferPeriod);
  hostsOnly('--transfer-duration', f.transferDuration);
  if (f.linkRate !== undefined) o.link.mbit = f.linkRate;
  if (f.linkLatency !== undefined) o.link.latencyMs = f.linkLatency;
  if (f.linkBurst !== undefined) o.link.burstBytes = f.linkBurst;
  if (f.transfers === false || o.topology !== 'hosts') o.transfers = null;
  else {
    if (f.transferPeriod !== undefined) o.transfers!.periodMs = f.transferPeriod;
    if (f.transferDuration !== undefined) o.transfers!.durationMs = f.transferDuration;
    if (o.transfers!.durationMs > o.transfers!.periodMs) throw usage(`--transfer-duration (${o.transfers!.durationMs} ms) must not exceed --transfer-period (${o.transfers!.periodMs} ms)`);
  }
  // Across hosts the background is the transfers; the engine's seeded delays only when asked.
  const delaysAsked = f.background !== undefined || f.backgroundWidth !== undefined || f.backgroundPeriod !== undefined || f.backgroundDuty !== undefined || f.backgroundIntensity !== undefined || f.backgroundTargets !== undefined;
  if (f.background === false || f.background === 'off' || (o.topology === 'hosts' && !delaysAsked)) o.background = null;
  else {
    const bg = { ...o.background! };
    if (f.background !== undefined) {
      if (f.background !== 'delay' && f.background !== 'contention') throw usage(`--background: expected delay, contention or off, got "${f.background}"`);
      bg.kind = f.background;
      if (bg.kind === 'contention' && f.backgroundIntensity === undefined) bg.intensity = 0.5;
    }
    if (f.backgroundWidth !== undefined) {
      if (f.backgroundWidth !== 1 && f.backgroundWidth !== 2) throw usage(`--background-width: expected 1 or 2, got ${f.backgroundWidth}`);
      bg.width = f.backgroundWidth;
    }
    if (f.backgroundPeriod !== undefined) bg.periodMs = f.backgroundPeriod;
    if (f.backgroundDuty !== undefined) {
      if (f.backgroundDuty > 1) throw usage(`--background-duty: expected a fraction in (0, 1], got ${f.backgroundDuty}`);
      bg.duty = f.backgroundDuty;
    }
    if (f.backgroundIntensity !== undefined) bg.intensity = f.backgroundIntensity;
    if (f.backgroundTargets !== undefined) bg.targets = f.backgroundTargets;
    if (bg.kind === 'contention' && bg.intensity > 1) throw usage(`--background-intensity: contention takes a busy fraction in (0, 1], got ${bg.intensity}`);
    o.background = bg;
  }
  if (f.framing !== undefined) o.framing = f.framing;
  if (f.connections !== undefined) o.connections = f.connections;
  if (f.generators !== undefined) o.generators = f.generators;
  if (f.dataset !== undefined) o.datasetDir = f.dataset;
  if (f.out !== undefined) o.outDir = f.out;
  o.charts = f.charts;
  return o;
}

async function tail(f: TailFlags, command: Command): Promise<void> {
  const opts = optionsFromFlags(f);
  const startedAt = new Date();
  const machine = machineInfo();
  const runs = plan(opts);
  const showBar = f.progress && process.stderr.isTTY === true;
  const bar = showBar
    ? new cliProgress.SingleBar(
        { stream: process.stderr, format: ' {bar} {percentage}% | run {run}/{runs} {label} @ {rate} q/s, trial {trial} | {value}/{total} queries | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const totalQueries = runs.reduce((a, r) => a + Math.round((r.rate * opts.durationMs) / 1000), 0);
  let doneQueries = 0;
  let runTotal = 0;
  bar?.start(totalQueries, 0, { run: 0, runs: runs.length, label: '', rate: 0, trial: 0 });
  const outcome = await runTailBenchmark(opts, {
    onRunStart: (run, n) => {
      const payload = { run: run.index + 1, runs: n, label: run.spec.label, rate: run.rate, trial: run.trial + 1 };
      if (bar) bar.update(doneQueries, payload);
      else if (f.progress) process.stderr.write(`parm bench tail: run ${run.index + 1}/${n}: ${run.spec.label} @ ${run.rate} q/s, trial ${run.trial + 1}\n`);
    },
    onProgress: (_run, p) => {
      runTotal = p.total;
      bar?.update(doneQueries + p.sent);
    },
    onRunFailed: (run, err) => {
      const msg = `parm bench tail: ${run.spec.label} skipped, its server did not start: ${err.message.split('\n')[0]}\n`;
      if (bar) bar.stop();
      process.stderr.write(msg);
      if (bar) bar.start(totalQueries, doneQueries);
    },
    onRunEnd: (_run, rec) => {
      doneQueries += runTotal;
      bar?.update(doneQueries);
      if (!bar && f.progress) {
        process.stderr.write(`  p50 ${rec.p50_ms.toFixed(2)} ms, p99.9 ${rec.p999_ms.toFixed(2)} ms, reconstructed ${(rec.reconstructed_fraction * 100).toFixed(1)}%, accuracy ${(rec.accuracy * 100).toFixed(1)}%\n`);
      }
    },
  });
  bar?.stop();

  const argv = process.argv.slice(2);
  const report = buildReport({
    startedAt,
    command: `parm ${argv.join(' ')}`.trim(),
    machine,
    options: opts,
    topology: outcome.topology,
    records: outcome.records,
    charts: [],
    errors: outcome.errorSamples,
  });
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  if (opts.charts) report.charts = await writeCharts(report, outcome.latencies, outDir);
  writeFileSync(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'summary.md'), `${formatMarkdown(report)}\n`);
  if (f.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(`${formatTable(report)}\nreport: ${join(outDir, 'report.json')}\n`);
  void command;
}

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks: tail latency under load, coding kernels');
  bench
    .command('tail')
    .description(
      'tail latency under load, the paper\'s experiment: for each mode a fresh `parm serve`, an open-loop Poisson load\n' +
        'over WebSocket from a separate process (latency from the scheduled send time), seeded background load.\n' +
        'With --topology hosts every instance is a `parm worker` on its own namespace host and the background is bulk\n' +
        'transfers between random pairs of hosts over rate-limited links.\n' +
        'Prints a table (or --json), writes report.json and charts (SVG, PNG) to --out.',
    )
    .option('--quick', 'CI smoke preset: one 4 s trial per mode at 200 q/s (about a minute)')
    .option('--json', 'print one JSON object (results: a record per mode, k, load and trial) instead of the table')
    .option('--out <dir>', 'where report.json and the charts go', 'bench-results/tail')
    .option('--modes <list>', `modes to compare; parm:K sets k, equal-resources:K / hedged:K get the instances of parm at that k (default ${DEFAULT_MODES})`)
    .option('--rates <list>', 'offered loads in queries/s, comma-separated (default 200,400,800; --quick 200)')
    .option('--trials <n>', 'trials per mode and load, each with seed + trial (default 3; --quick 1)', int('--trials', 1, 100))
    .option('--seed <n>', 'seed of arrivals, query order and background schedule, the same for every mode (default 1)', int('--seed', 0))
    .option('--duration <s>', 'seconds of load per run, warm-up included (default 14; --quick 5)', positive('--duration'))
    .option('--warmup <s>', 'seconds at the start of each run sent but not measured (default 5; --quick 2)', positive('--warmup', true))
    .option('--instances <m>', 'deployed-model instances m of parm and none; equal-resources and hedged get m + ceil(m/k) (default 4)', int('--instances', 1, 64))
    .option('--deployment <name>', 'bundled deployment to serve (models/manifest.json)', 'fashion-mnist-mlp')
    .option('--threads <n>', 'onnxruntime threads per instance (default 1)', int('--threads', 1, 64))
    .option('--hedge-delay <ms>', 'hedged mode: re-issue after this many ms (default: the engine\'s)', positive('--hedge-delay', true))
    .option('--least-recent', "the engine's warmFirst false: the free instance idle longest takes the next task (the default takes the one that finished last)")
    .option('--parity-nice <n>', "parm mode: parity instance threads' nice value above the server's, 0-19 (default: the engine's parityNice, 10)", int('--parity-nice', 0, 19))
    .option('--parity-defer <ms>', "parm mode: run a group's parity only once a member is unanswered this long (0: at once, the paper's eager parity; default: the engine's adaptive wait, 3 x the median deployed run time)", positive('--parity-defer', true))
    .option('--group-wait <ms>', 'parm mode: how long a coding group may wait to fill (default: the engine\'s)', positive('--group-wait', true))
    .option('--decode-deadline <ms>', 'parm mode: wait this long for the original before answering with a reconstruction (default: first of the two)', positive('--decode-deadline', true))
    .option('--background <kind>', 'background load: delay (added ms per query on the disturbed instances), contention (CPU busy fraction), or off (default delay)')
    .option('--no-background', 'no background load')
    .option('--background-width <n>', 'instances disturbed at a time: 1 (one random instance) or 2 (a random pair) (default 1)', int('--background-width', 1, 2))
    .option('--background-period <ms>', 'every this many ms a new random instance (or pair) is picked (default 200)', positive('--background-period'))
    .option('--background-duty <f>', 'fraction of each period the disturbance lasts, (0, 1] (default 0.25)', positive('--background-duty'))
    .option('--background-intensity <x>', 'delay: ms added to each query; contention: busy fraction (default 50 ms; 0.5 for contention)', positive('--background-intensity'))
    .addOption(new Option('--background-targets <which>', 'instances the background may pick (default all)').choices(['all', 'deployed']))
    .addOption(new Option('--topology <where>', 'local: the instances are threads of one parm serve; hosts: one parm worker per instance, each on its own network-namespace host (Linux, root), the frontend and the load generator on two more (default local)').choices(['local', 'hosts']))
    .option('--link-rate <mbit>', 'hosts: tbf rate limit of every host\'s downlink, Mbit/s (default 100)', positive('--link-rate'))
    .option('--link-latency <ms>', 'hosts: tbf queue of each downlink: the most a packet waits behind a full link, ms (default 50)', positive('--link-latency'))
    .option('--link-burst <bytes>', 'hosts: tbf bucket: a burst this large passes an idle link at once (default 32768)', int('--link-burst', 1600))
    .option('--no-transfers', 'hosts: no bulk transfers between hosts')
    .option('--transfer-period <ms>', 'hosts: every this many ms a bulk transfer starts between a random pair of instance hosts (default 200)', positive('--transfer-period'))
    .option('--transfer-duration <ms>', 'hosts: how long each transfer sends, filling the receiver\'s downlink (default 50)', positive('--transfer-duration'))
    .addOption(new Option('--framing <kind>', 'WebSocket framing of requests: binary (4-byte header length, JSON header, raw float32) or json text frames (default binary)').choices(['json', 'binary']))
    .option('--connections <n>', 'WebSocket connections per load generator, requests pipelined on each (default 1)', int('--connections', 1, 256))
    .option('--generators <n>', 'load-generator processes sharing the offered load (default 1)', int('--generators', 1, 16))
    .option('--dataset <dir>', 'Fashion-MNIST IDX directory (test split)', '/usr/share/datasets/fashion-mnist')
    .option('--no-charts', 'skip the charts')
    .option('--no-progress', 'no progress bar on stderr')
    .action(tail);
}

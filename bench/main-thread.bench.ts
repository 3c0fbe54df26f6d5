// The server's own CPU per query (`npm run bench:main-thread`): parm's network front and engine
// with instances that answer at once on the same thread (bench/instant-instance.ts: no model
// thread, no messages), under an open-loop WebSocket load (binary frames), against a bare
// uWebSockets.js app that answers the same frames with a payload of the same size (the
// transport's own cost). The server process then has one busy thread, so its CPU per query is
// parm's work on the main thread, with little of the scheduling noise the threaded benchmarks
// see: the figure that sets how many queries one core can front (bench:throughput).
// Options: --rate=R (q/s, default 2000) --seconds=S (per repetition, default 5) --warmup=S (2)
//          --reps=N (default 5; the median is reported, with min and max) --json
//          --against=DIR (another built checkout with this benchmark, e.g. a `git worktree` of 2661683: its server
//          and this one's run at once, each under half the rate from this process, round after round,
//          so that the host's noise falls on both; reported per round as this / that)
import { join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { cpuOf } from './process-cpu.js';
import { measureSizes, runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 2000);
const SECONDS = Number(args.get('seconds') ?? 5);
const WARMUP = Number(args.get('warmup') ?? 2);
const REPS = Number(args.get('reps') ?? 5);
const JSON_OUT = args.has('json');
const AGAINST = args.get('against');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

interface Figures {
  label: string;
  /** Per query, µs: median over the repetitions, then [min, max]. */
  total_us: number;
  user_us: number;
  system_us: number;
  range_us: [number, number];
  p50_ms: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(label: string, childArgs: string[], echo: boolean): Promise<Figures> {
  const { child, port, model } = await startChild(childArgs);
  try {
    await runScenario(label, port, model, 'ws', 'binary', { rate: RATE, seconds: WARMUP, warmup: 0.5, connections: 8, echo });
    const totals: number[] = [];
    const users: number[] = [];
    const systems: number[] = [];
    const p50s: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const before = cpuOf(child.pid!);
      const r = await runScenario(label, port, model, 'ws', 'binary', { rate: RATE, seconds: SECONDS, warmup: 0, connections: 8, echo });
      const after = cpuOf(child.pid!);
      if (r.errors > 0 || r.answered < r.sent) throw new Error(`${label}: ${r.errors} errors, ${r.answered}/${r.sent} answered`);
      const user = (after.user - before.user) / r.answered;
      const system = (after.system - before.system) / r.answered;
      users.push(user);
      systems.push(system);
      totals.push(user + system);
      p50s.push(r.p50);
    }
    return { label, total_us: median(totals), user_us: median(users), system_us: median(systems), range_us: [Math.min(...totals), Math.max(...totals)], p50_ms: median(p50s) };
  } finally {
    await stopChild(child);
  }
}

/** CPU per query of this build's server against `dir`'s, both at once, per round. */
async function paired(label: string, childArgs: string[], dir: string): Promise<{ label: string; this_us: number[]; that_us: number[]; ratio_of_sums: number }> {
  const mine = await startChild(childArgs);
  const theirs = await startChild(childArgs, false, join(resolve(dir), 'dist', 'bench', 'server-bench-child.js'));
  const load = (s: typeof mine, seconds: number) => runScenario(label, s.port, s.model, 'ws', 'binary', { rate: RATE / 2, seconds, warmup: 0, connections: 4, echo: false });
  try {
    await Promise.all([load(mine, WARMUP), load(theirs, WARMUP)]);
    const thisUs: number[] = [];
    const thatUs: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const a0 = cpuOf(mine.child.pid!);
      const b0 = cpuOf(theirs.child.pid!);
      const [a, b] = await Promise.all([load(mine, SECONDS), load(theirs, SECONDS)]);
      const a1 = cpuOf(mine.child.pid!);
      const b1 = cpuOf(theirs.child.pid!);
      thisUs.push((a1.user + a1.system - a0.user - a0.system) / a.answered);
      thatUs.push((b1.user + b1.system - b0.user - b0.system) / b.answered);
      log(`  ${label.padEnd(10)} round ${rep + 1}: this ${thisUs.at(-1)!.toFixed(1)} µs, that ${thatUs.at(-1)!.toFixed(1)} µs, this / that ${(thisUs.at(-1)! / thatUs.at(-1)!).toFixed(3)}`);
    }
    const sum = (xs: number[]) => xs.reduce((p, q) => p + q, 0);
    return { label, this_us: thisUs, that_us: thatUs, ratio_of_sums: sum(thisUs) / sum(thatUs) };
  } finally {
    await Promise.all([stopChild(mine.child), stopChild(theirs.child)]);
  }
}

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadavg_before: loadavg(), node: process.version };
  log(`CPU: ${machine.cpu} (${machine.cores} cores, load ${machine.loadavg_before.map((x) => x.toFixed(2)).join(' ')}); Node ${machine.node}`);
  if (AGAINST) {
    log(`server CPU per query, instant instances, this build against ${AGAINST}: ${RATE / 2} q/s each over 4 WebSocket connections, both at once, ${REPS} x ${SECONDS} s after ${WARMUP} s warm-up`);
    const pairs = [await paired('parm none', ['--system=none', '--instant'], AGAINST), await paired('parm k=2', ['--system=parm', '--k=2', '--instant'], AGAINST)];
    log('\nserver       median this   median that   this / that (sums)');
    for (const p of pairs) log(`${p.label.padEnd(12)} ${median(p.this_us).toFixed(1).padStart(11)} ${median(p.that_us).toFixed(1).padStart(13)} ${p.ratio_of_sums.toFixed(3).padStart(12)}`);
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ machine: { ...machine, loadavg_after: loadavg() }, rate: RATE, seconds: SECONDS, reps: REPS, against: AGAINST, pairs }, null, 1)}\n`);
    return;
  }
  log(`server CPU per query, instant instances: ${RATE} q/s over 8 WebSocket connections, ${REPS} x ${SECONDS} s after ${WARMUP} s warm-up`);
  const { child, port, model } = await startChild(['--system=none', '--instant']);
  const sizes = await measureSizes(port, model);
  await stopChild(child);
  const results = [
    await measure('uWS echo (transport)', ['--system=echo', `--sizes=${JSON.stringify(sizes)}`], true),
    await measure('parm none', ['--system=none', '--instant'], false),
    await measure('parm k=2', ['--system=parm', '--k=2', '--instant'], false),
  ];
  log('\nserver                 CPU us/query   user    sys   [min, max]      p50 ms   over the transport');
  const base = results[0]!.total_us;
  for (const r of results) {
    log(`${r.label.padEnd(22)} ${r.total_us.toFixed(1).padStart(8)} ${r.user_us.toFixed(1).padStart(8)} ${r.system_us.toFixed(1).padStart(6)}   [${r.range_us.map((x) => x.toFixed(1)).join(', ')}]`.padEnd(74) + `${r.p50_ms.toFixed(2).padStart(6)}   ${r === results[0] ? '' : `+${(r.total_us - base).toFixed(1)}`}`);
  }
  if (JSON_OUT) process.stdout.write(`${JSON.stringify({ machine: { ...machine, loadavg_after: loadavg() }, rate: RATE, seconds: SECONDS, reps: REPS, results }, null, 1)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`main-thread.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// The server's own CPU per query (`npm run bench:main-thread`): parm's network front and engine
// with instances that answer at once on the same thread (bench/instant-instance.ts: no model
// thread, no messages), under an open-loop WebSocket load (binary frames), against a bare
// uWebSockets.js app that answers the same frames with a payload of the same size (the
// transport's own cost). The server process then has one busy thread, so its CPU per query is
// parm's work on the main thread, with little of the scheduling noise the threaded benchmarks
// see: the figure that sets how many queries one core can front (bench:throughput).
// Options: --rate=R (q/s, default 2000) --seconds=S (per repetition, default 5) --warmup=S (2)
//          --reps=N (default 5; the median is reported, with min and max) --json
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { measureSizes, runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 2000);
const SECONDS = Number(args.get('seconds') ?? 5);
const WARMUP = Number(args.get('warmup') ?? 2);
const REPS = Number(args.get('reps') ?? 5);
const JSON_OUT = args.has('json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

/** User and system CPU of a process so far, µs (/proc/PID/stat, clock ticks of 10 ms). */
function cpuOf(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

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

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadavg_before: loadavg(), node: process.version };
  log(`CPU: ${machine.cpu} (${machine.cores} cores, load ${machine.loadavg_before.map((x) => x.toFixed(2)).join(' ')}); Node ${machine.node}`);
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

// Where the CPU of a query goes (`npm run bench:cpu`): for each mode, a server process under an
// open-loop WebSocket load (binary frames), the CPU of each of its threads over measured windows
// (from /proc: the main thread, each deployed and parity instance's model thread, the rest), and a
// CPU profile of the main thread over one more window, attributed by the nearest project frame:
// transport, validation and copies, engine bookkeeping, encoding and decoding, instance messaging,
// metrics and logs, the engine's clock (its timers and now(), Node's timer code under them),
// garbage collection, runtime. Per query, in microseconds.
// Every mode's server runs from the start and the modes take turns, round after round (the order
// rotating), so that a slow spell of the shared machine falls on every mode alike; the CPU per
// query and the ratios are the medians over the rounds. The profiled window is not one of them: the
// profiler's sampling (every 200 µs) costs a thread of its own some 300 µs per query at 400 q/s
// and slows the main thread, so it only splits the main thread's measured CPU into its shares.
// Options: --rate=R (q/s, default 400) --seconds=S (per window, default 10) --warmup=S (before each, 2)
//          --first-warmup=S (each fresh server's load before the first round, default 5: a fresh
//          server's instance threads take some 4 s of load to reach their steady speed)
//          --rounds=N (unprofiled windows per mode, default 3) --json
//          --profiles=DIR (keep each mode's main-thread .cpuprofile there, for a profiler's view)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spread } from '../src/bench/tail/stats.js';
import { cpuTicks, stealPct } from '../src/bench/tail/steal.js';
import { threadCpu } from './process-cpu.js';
import { replies, runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 400);
const SECONDS = Number(args.get('seconds') ?? 10);
const WARMUP = Number(args.get('warmup') ?? 2);
const ROUNDS = Number(args.get('rounds') ?? 3);
const FIRST_WARMUP = Number(args.get('first-warmup') ?? 5);
const JSON_OUT = args.has('json');
const PROFILES = args.get('profiles');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

const MODES: { label: string; args: string[] }[] = [
  { label: 'none', args: ['--system=none'] },
  { label: 'equal-resources', args: ['--system=equal-resources'] },
  { label: 'parm k=2 (eager parity)', args: ['--system=parm', '--k=2', '--defer=0'] },
  { label: 'parm k=2', args: ['--system=parm', '--k=2'] },
];

/** Categories of main-thread time, by the first project frame found walking up from a sample's leaf. */
const CATEGORIES: [string, RegExp][] = [
  ['validation and copies', /\/src\/(wire\/|server\/infer-(request|response)|engine\/(admission|input)\.)/],
  ['encoding and decoding', /\/src\/(codec\/|engine\/engine-codec\.)/],
  ['instance messaging', /\/src\/engine\/(local-instance|instance-messages)\.|node:internal\/worker|internal\/per_context\/messageport/],
  ['metrics and logs', /prom-client|pino|hdr-histogram/],
  ['engine clock (timers, now)', /\/src\/engine\/clock\./],
  ['engine bookkeeping', /\/src\/engine\//],
  ['transport', /\/src\/server\/|uWebSockets|uws_/],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Main-thread ms per category from a CPU profile (idle excluded). */
function attribute(p: Profile): Record<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const hit = memo.get(id);
    if (hit) return hit;
    const n = byId.get(id)!;
    const name = n.callFrame.functionName;
    let cat: string;
    if (name === '(idle)') cat = 'idle';
    else if (name === '(garbage collector)') cat = 'garbage collection';
    else if (name === '(program)') cat = 'runtime (native, event loop)';
    else {
      const found = CATEGORIES.find(([, re]) => re.test(n.callFrame.url));
      const up = parent.get(id);
      cat = found ? found[0] : up !== undefined ? categoryOf(up) : 'other';
      if (cat === 'idle' || cat === 'runtime (native, event loop)') cat = 'other';
    }
    memo.set(id, cat);
    return cat;
  };
  const out: Record<string, number> = {};
  p.samples.forEach((id, i) => {
    const cat = categoryOf(id);
    out[cat] = (out[cat] ?? 0) + (p.timeDeltas[i] ?? 0) / 1000;
  });
  delete out['idle'];
  return out;
}

interface ChildMetrics {
  instances: { id: string; role: string; tid?: number }[];
  lateOriginalsDiscarded: number;
  runTime: { deployed: { count: number } };
}

/** One mode's server, running for the whole benchmark. */
interface Server {
  mode: { label: string; args: string[] };
  child: ChildProcess;
  port: number;
  model: string;
  next: ReturnType<typeof replies>;
  /** The instances' thread ids, as the server reported them at the start. */
  instances: ChildMetrics['instances'];
}

/** One unprofiled window of a mode: CPU ms per thread class, the queries answered, the host's steal. */
interface Window {
  queries: number;
  achieved: number;
  p50: number;
  p99: number;
  mainMs: number;
  deployedMs: number;
  parityMs: number;
  otherMs: number;
  /** Of the deployed runs in the window, the share whose answer was discarded (a reconstruction had won). */
  lateShare: number;
  stealPct: number | null;
}

const median = (xs: number[]): number => spread(xs).median;

async function metricsOf(s: Server): Promise<ChildMetrics> {
  s.child.stdin!.write('metrics\n');
  return (await s.next((o) => 'metrics' in o)).metrics as ChildMetrics;
}

async function start(mode: Server['mode']): Promise<Server> {
  const { child, port, model } = await startChild(mode.args);
  const s: Server = { mode, child, port, model, next: replies(child), instances: [] };
  s.instances = (await metricsOf(s)).instances;
  return s;
}

const load = (s: Server, seconds: number) => runScenario(s.mode.label, s.port, s.model, 'ws', 'binary', { rate: RATE, seconds, warmup: 0, connections: 8, echo: false });

/** Warm up, then one window: each thread's CPU before and after, nothing profiled. */
async function measureWindow(s: Server): Promise<Window> {
  await load(s, WARMUP);
  const pid = s.child.pid!;
  const m0 = await metricsOf(s);
  const ticks0 = cpuTicks();
  const before = threadCpu(pid);
  const r = await load(s, SECONDS);
  const after = threadCpu(pid);
  const steal = stealPct(ticks0, cpuTicks());
  const m1 = await metricsOf(s);
  const delta = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
  const roleMs = (role: string) => s.instances.filter((i) => i.role === role && i.tid).reduce((a, i) => a + delta(i.tid!), 0);
  const instanceTids = new Set(s.instances.map((i) => i.tid).filter((t): t is number => t !== undefined));
  let otherMs = 0;
  for (const tid of after.keys()) if (tid !== pid && !instanceTids.has(tid)) otherMs += delta(tid);
  const runs = m1.runTime.deployed.count - m0.runTime.deployed.count;
  return {
    queries: r.answered,
    achieved: r.achieved,
    p50: r.p50,
    p99: r.p99,
    mainMs: delta(pid),
    deployedMs: roleMs('deployed'),
    parityMs: roleMs('parity'),
    otherMs,
    lateShare: runs > 0 ? (m1.lateOriginalsDiscarded - m0.lateOriginalsDiscarded) / runs : 0,
    stealPct: steal,
  };
}

/** Warm up, then one window with the main thread profiled: its ms by category. */
async function profileWindow(s: Server, dir: string): Promise<Record<string, number>> {
  await load(s, WARMUP);
  s.child.stdin!.write('profile-start\n');
  await s.next((o) => o['profiling'] === true);
  await load(s, SECONDS);
  const file = join(dir, `${s.mode.label.replace(/\W+/g, '-')}.cpuprofile`);
  s.child.stdin!.write(`profile-stop ${file}\n`);
  await s.next((o) => o['profiled'] === true);
  return attribute(JSON.parse(readFileSync(file, 'utf8')) as Profile);
}

const perQuery = (w: Window, ms: number) => (ms * 1000) / Math.max(w.queries, 1);
const totalPerQuery = (w: Window) => perQuery(w, w.mainMs + w.deployedMs + w.parityMs + w.otherMs);

/** A mode's breakdown: each thread class's median over the rounds, the main thread's split by the profile's shares. */
function breakdownOf(windows: Window[], main: Record<string, number>) {
  const med = (f: (w: Window) => number) => median(windows.map(f));
  const mainUs = med((w) => perQuery(w, w.mainMs));
  const profiled = Object.values(main).reduce((a, b) => a + b, 0);
  const breakdown: Record<string, number> = {};
  for (const [cat, ms] of Object.entries(main)) breakdown[`main: ${cat}`] = (ms / Math.max(profiled, 1e-9)) * mainUs;
  breakdown['inference of originals'] = med((w) => perQuery(w, w.deployedMs * (1 - w.lateShare)));
  breakdown['late originals (discarded)'] = med((w) => perQuery(w, w.deployedMs * w.lateShare));
  breakdown['inference of parity'] = med((w) => perQuery(w, w.parityMs));
  breakdown['other threads (GC helpers, libuv, runtime)'] = med((w) => perQuery(w, w.otherMs));
  return { main_thread_us_per_query: mainUs, breakdown };
}

async function main(): Promise<void> {
  log(`CPU: ${cpus()[0]?.model} (${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}); ${RATE} q/s, ${ROUNDS} rounds of ${SECONDS} s windows after ${WARMUP} s warm-up each (${FIRST_WARMUP} s for a fresh server), then one profiled window per mode`);
  const dir = PROFILES ?? mkdtempSync(join(tmpdir(), 'parm-cpu-'));
  if (PROFILES) mkdirSync(PROFILES, { recursive: true });
  const servers: Server[] = [];
  try {
    for (const mode of MODES) servers.push(await start(mode));
    for (const s of servers) await load(s, FIRST_WARMUP);
    const windows = new Map<string, Window[]>(MODES.map((m) => [m.label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
      const cells: string[] = [];
      for (const s of order) {
        const w = await measureWindow(s);
        windows.get(s.mode.label)!.push(w);
        cells.push(`${s.mode.label} ${totalPerQuery(w).toFixed(0)} µs${w.stealPct !== null && w.stealPct > 0.5 ? ` (steal ${w.stealPct.toFixed(1)} %)` : ''}`);
      }
      log(`round ${round + 1}: ${cells.join(', ')}`);
    }
    const results = [];
    for (const s of servers) {
      const ws = windows.get(s.mode.label)!;
      const { main_thread_us_per_query, breakdown } = breakdownOf(ws, await profileWindow(s, dir));
      const total = median(ws.map(totalPerQuery));
      log(`${s.mode.label}: ${ws.reduce((a, w) => a + w.queries, 0)} queries at ${median(ws.map((w) => w.achieved)).toFixed(0)} q/s, p50 ${median(ws.map((w) => w.p50)).toFixed(3)} ms, p99 ${median(ws.map((w) => w.p99)).toFixed(2)} ms; CPU ${total.toFixed(0)} µs per query (median of ${ws.length} windows: ${ws.map((w) => totalPerQuery(w).toFixed(0)).join(', ')})`);
      for (const [k, v] of Object.entries(breakdown).sort((a, b) => b[1] - a[1])) log(`    ${k.padEnd(48)} ${v.toFixed(1).padStart(7)} µs`);
      results.push({ mode: s.mode.label, cpu_us_per_query: total, cpu_us_per_query_by_round: ws.map(totalPerQuery), main_thread_us_per_query, breakdown_us: breakdown, windows: ws, clock_tick_ms: 10 });
    }
    const er = results.find((r) => r.mode === 'equal-resources')!;
    log('\nCPU per query against equal-resources (median of the rounds\' ratios; each round\'s, its windows minutes apart at most):');
    const ratios: Record<string, number> = {};
    for (const r of results) {
      const perRound = r.cpu_us_per_query_by_round.map((c, i) => c / er.cpu_us_per_query_by_round[i]!);
      ratios[r.mode] = median(perRound);
      log(`  ${r.mode.padEnd(26)} ${ratios[r.mode]!.toFixed(2)}x   (${perRound.map((x) => x.toFixed(2)).join(', ')})`);
    }
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ rate: RATE, seconds: SECONDS, rounds: ROUNDS, loadavg: loadavg(), ratios, results }, null, 1)}\n`);
  } finally {
    for (const s of servers) await stopChild(s.child);
    if (PROFILES) log(`profiles: ${PROFILES}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cpu-breakdown.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

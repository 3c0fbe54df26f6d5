// Where the CPU of a query goes (`npm run bench:cpu`): for each mode, a server process under an
// open-loop WebSocket load (binary frames), the CPU of each of its threads over the measured window
// (from /proc: the main thread, each deployed and parity instance's model thread, the rest), and a
// CPU profile of the main thread over the same window, attributed by the nearest project frame:
// transport, validation and copies, engine bookkeeping, encoding and decoding, instance messaging,
// metrics and logs, the engine's clock (its timers and now(), Node's timer code under them),
// garbage collection, runtime. Per query, in microseconds.
// Options: --rate=R (q/s, default 400) --seconds=S (default 10) --warmup=S (2) --json
//          --profiles=DIR (keep each mode's main-thread .cpuprofile there, for a profiler's view)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadCpu } from './process-cpu.js';
import { replies, runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 400);
const SECONDS = Number(args.get('seconds') ?? 10);
const WARMUP = Number(args.get('warmup') ?? 2);
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

async function measure(mode: { label: string; args: string[] }, dir: string) {
  const { child, port, model } = await startChild(mode.args);
  const next = replies(child);
  try {
    child.stdin!.write('metrics\n');
    const first = (await next((o) => 'metrics' in o)).metrics as { instances: { id: string; role: string; tid?: number }[] };
    const pid = child.pid!;
    // Warm up, then measure one window: thread CPU before and after, the main thread profiled.
    await runScenario(mode.label, port, model, 'ws', 'binary', { rate: RATE, seconds: WARMUP, warmup: 0, connections: 8, echo: false });
    child.stdin!.write('profile-start\n');
    await next((o) => o['profiling'] === true);
    const before = threadCpu(pid);
    const r = await runScenario(mode.label, port, model, 'ws', 'binary', { rate: RATE, seconds: SECONDS, warmup: 0, connections: 8, echo: false });
    const after = threadCpu(pid);
    const file = join(dir, `${mode.label.replace(/\W+/g, '-')}.cpuprofile`);
    child.stdin!.write(`profile-stop ${file}\n`);
    await next((o) => o['profiled'] === true);
    child.stdin!.write('metrics\n');
    const m = (await next((o) => 'metrics' in o)).metrics as { lateOriginalsDiscarded: number; answered: number; runTime: { deployed: { count: number } } };
    const delta = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
    const tids = new Set(after.keys());
    const roleMs = (role: string) => first.instances.filter((i) => i.role === role && i.tid).reduce((a, i) => a + delta(i.tid!), 0);
    const deployedMs = roleMs('deployed');
    const parityMs = roleMs('parity');
    const instanceTids = new Set(first.instances.map((i) => i.tid).filter((t): t is number => t !== undefined));
    let otherMs = 0;
    for (const tid of tids) if (tid !== pid && !instanceTids.has(tid)) otherMs += delta(tid);
    const mainMs = delta(pid);
    const main = attribute(JSON.parse(readFileSync(file, 'utf8')) as Profile);
    const profiled = Object.values(main).reduce((a, b) => a + b, 0);
    const q = r.answered;
    const perQuery = (ms: number) => (ms * 1000) / q;
    // Late originals: deployed runs whose answer was discarded, at the mean deployed run cost.
    const lateShare = m.runTime.deployed.count > 0 ? m.lateOriginalsDiscarded / m.runTime.deployed.count : 0;
    const breakdown: Record<string, number> = {};
    // The profile's shares scale to the main thread's measured CPU.
    for (const [cat, ms] of Object.entries(main)) breakdown[`main: ${cat}`] = perQuery((ms / Math.max(profiled, 1e-9)) * mainMs);
    breakdown['inference of originals'] = perQuery(deployedMs * (1 - lateShare));
    breakdown['late originals (discarded)'] = perQuery(deployedMs * lateShare);
    breakdown['inference of parity'] = perQuery(parityMs);
    breakdown['other threads (GC helpers, libuv, runtime)'] = perQuery(otherMs);
    const total = perQuery(mainMs + deployedMs + parityMs + otherMs);
    log(`${mode.label}: ${q} queries at ${r.achieved.toFixed(0)} q/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(2)} ms; CPU ${total.toFixed(0)} µs per query`);
    for (const [k, v] of Object.entries(breakdown).sort((a, b) => b[1] - a[1])) log(`    ${k.padEnd(48)} ${v.toFixed(1).padStart(7)} µs`);
    return { mode: mode.label, queries: q, achieved: r.achieved, p50: r.p50, p99: r.p99, cpu_us_per_query: total, breakdown_us: breakdown, main_thread_ms: mainMs, clock_tick_ms: 10 };
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  log(`CPU: ${cpus()[0]?.model} (${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}); ${RATE} q/s for ${SECONDS} s after ${WARMUP} s warm-up`);
  const dir = PROFILES ?? mkdtempSync(join(tmpdir(), 'parm-cpu-'));
  if (PROFILES) mkdirSync(PROFILES, { recursive: true });
  try {
    const results = [];
    for (const mode of MODES) results.push(await measure(mode, dir));
    const er = results.find((r) => r.mode === 'equal-resources')!;
    log('\nCPU per query against equal-resources:');
    for (const r of results) log(`  ${r.mode.padEnd(26)} ${(r.cpu_us_per_query / er.cpu_us_per_query).toFixed(2)}x`);
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ rate: RATE, seconds: SECONDS, loadavg: loadavg(), results }, null, 1)}\n`);
  } finally {
    if (PROFILES) log(`profiles: ${PROFILES}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cpu-breakdown.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// Allocation benchmark (`npm run bench:alloc`): what the server's main thread allocates per query
// on the JavaScript heap, the garbage its young-generation collections (and their helper threads)
// then sweep. A server process per configuration (parm none, parm k = 2) under open-loop WebSocket
// load; after a warm-up, a sampling heap profile of its main thread over the measured window,
// collected objects included, split by the function that allocated.
// --survivors: only what outlived a young-generation collection (promoted to the old generation,
// or allocated there), the garbage that brings on full mark-compacts; use a longer --seconds.
// --full-gc: one full mark-compact in the server after the warm-up, then --warmup again before
// sampling (a server's state after its first full collection, which V8 otherwise makes within
// about 100 s of steady load).
// Options: --rate=Q (q/s, default 3000) --seconds=S (measured, 3) --warmup=S (2) --top=N (functions listed, 12)
// --survivors --full-gc --json
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replies, runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => { const [k, ...v] = a.replace(/^--/, '').split('='); return [k!, v.join('=')] as [string, string]; }));
const RATE = Number(args.get('rate') ?? 3000);
const SECONDS = Number(args.get('seconds') ?? 3);
const WARMUP = Number(args.get('warmup') ?? 2);
const TOP = Number(args.get('top') ?? 12);
const JSON_OUT = args.has('json');
const SURVIVORS = args.has('survivors');
const FULL_GC = args.has('full-gc');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes allocated per function (name, file and line of the function), over the whole profile. */
function bySite(head: ProfileNode): Map<string, number> {
  const sites = new Map<string, number>();
  const walk = (n: ProfileNode) => {
    const f = n.callFrame;
    const site = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/dist\//, '').replace(/^.*\/node_modules\//, '')}:${f.lineNumber + 1}`;
    if (n.selfSize > 0) sites.set(site, (sites.get(site) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head);
  return sites;
}

async function measure(label: string, serverArgs: string[], dir: string) {
  const { child, port, model } = await startChild(serverArgs);
  try {
    const next = replies(child);
    await runScenario(label, port, model, 'ws', 'binary', { rate: RATE, seconds: WARMUP, warmup: 0, connections: 8, echo: false });
    if (FULL_GC) {
      child.stdin!.write('full-gc\n');
      await next((o) => o['collected'] === true);
      await runScenario(label, port, model, 'ws', 'binary', { rate: RATE, seconds: WARMUP, warmup: 0, connections: 8, echo: false });
    }
    const file = join(dir, `${label.replace(/\W+/g, '-')}.heapprofile`);
    child.stdin!.write(SURVIVORS ? 'heap-start survivors\n' : 'heap-start\n');
    await next((o) => o['sampling'] === true);
    const r = await runScenario(label, port, model, 'ws', 'binary', { rate: RATE, seconds: SECONDS, warmup: 0, connections: 8, echo: false });
    child.stdin!.write(`heap-stop ${file}\n`);
    await next((o) => o['sampled'] === true);
    const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode };
    const queries = r.answered;
    const sites = [...bySite(profile.head)].sort((a, b) => b[1] - a[1]);
    const total = sites.reduce((a, [, v]) => a + v, 0);
    return { label, rate: RATE, answered: queries, p99_ms: r.p99, bytes_per_query: total / queries, top: sites.slice(0, TOP).map(([site, v]) => ({ site, bytes_per_query: v / queries })) };
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parm-alloc-'));
  try {
    const what = SURVIVORS ? 'what outlived the young generation' : 'allocation';
    const after = FULL_GC ? ' (after a full collection)' : '';
    log(`main-thread ${what} per query${after} at ${RATE} q/s (WebSocket binary frames, 8 connections), sampled over ${SECONDS} s after ${WARMUP} s of warm-up`);
    const results = [];
    for (const [label, a] of [['parm none', ['--system=none']], ['parm k=2', ['--system=parm', '--k=2']]] as const) {
      const m = await measure(label, [...a], dir);
      results.push(m);
      log(`\n${label}: ${Math.round(m.bytes_per_query)} bytes per query (p99 ${m.p99_ms.toFixed(2)} ms)`);
      for (const t of m.top) log(`  ${String(Math.round(t.bytes_per_query)).padStart(6)}  ${t.site}`);
    }
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ rate: RATE, seconds: SECONDS, results }, null, 1)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`allocation.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// Table churn benchmark (`npm run bench:table-churn`): why the engine's per-query tables are not
// Maps or Sets (src/engine/id-table.ts). One process per kind of table runs the engine's pattern
// alone: records of a few KB of small objects (a query's worth) added at a steady rate, each
// deleted a few ms later, some ten live at a time. It records the young-generation collections'
// promotion to the old generation and the full collections over a window, then forces one full
// collection and records the same window again. Prints a line per kind and window.
// Options: --rate=R (records a second, default 2400) --seconds=S (each window, 6) --json
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IdTable } from '../src/engine/id-table.js';
import { summarize, type GcWindow } from './gc-window.js';

const args = new Map(process.argv.slice(2).map((a) => { const [k, ...v] = a.replace(/^--/, '').split('='); return [k!, v.join('=')] as [string, string]; }));
const RATE = Number(args.get('rate') ?? 2400);
const SECONDS = Number(args.get('seconds') ?? 6);
const KINDS = ['Set', 'Map', 'IdTable'] as const;
type Kind = (typeof KINDS)[number];

interface Rec {
  readonly id: number;
  readonly parts: { j: number; s: string; a: number[] }[];
}

interface Table {
  add(r: Rec): void;
  delete(r: Rec): void;
}

function table(kind: Kind): Table {
  if (kind === 'Set') {
    const s = new Set<Rec>();
    return { add: (r) => void s.add(r), delete: (r) => void s.delete(r) };
  }
  if (kind === 'Map') {
    const m = new Map<number, Rec>();
    return { add: (r) => void m.set(r.id, r), delete: (r) => void m.delete(r.id) };
  }
  const t = new IdTable<Rec>();
  return { add: (r) => t.add(r), delete: (r) => void t.delete(r.id) };
}

interface WindowResult extends GcWindow {
  /** Bytes the young-generation collections moved to the old generation, per second. */
  promoted_per_s: number;
}

function measure(report: v8.GCProfilerResult, seconds: number): WindowResult {
  let promoted = 0;
  const old = (s: v8.GCProfilerResult['statistics'][number]['beforeGC']) => s.heapSpaceStatistics.find((x) => x.spaceName === 'old_space')?.spaceUsedSize ?? 0;
  for (const s of report.statistics) if (s.gcType === 'Scavenge') promoted += Math.max(0, old(s.afterGC) - old(s.beforeGC));
  return { ...summarize(report), promoted_per_s: promoted / seconds };
}

/** The child: one kind of table under the churn, two windows around a forced full collection. */
async function child(kind: Kind): Promise<void> {
  const t = table(kind);
  const live: Rec[] = [];
  let id = 1;
  const perTick = Math.max(1, Math.round(RATE / 100));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      const r: Rec = { id: id++, parts: Array.from({ length: 60 }, (_, j) => ({ j, s: `x${j}`, a: [j, j + 1] })) };
      t.add(r);
      live.push(r);
    }
    setTimeout(() => {
      for (let i = 0; i < perTick; i++) t.delete(live.shift()!);
    }, 3);
  }, 10);
  const window = async (): Promise<WindowResult> => {
    const p = new v8.GCProfiler();
    p.start();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    return measure(p.stop(), SECONDS);
  };
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const before = await window();
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  const after = await window();
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ kind, before, after })}\n`);
  process.exit(0);
}

function run(kind: Kind): Promise<{ kind: Kind; before: WindowResult; after: WindowResult }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), `--child=${kind}`, `--rate=${RATE}`, `--seconds=${SECONDS}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${kind}: exit ${code}`))));
  });
}

async function main(): Promise<void> {
  const kind = args.get('child') as Kind | undefined;
  if (kind) return child(kind);
  const json = args.has('json');
  const log = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');
  log(`${RATE} records a second, each ~8 KB of small objects, live ~3 ms; ${SECONDS} s windows before and after one forced full collection`);
  const results = [];
  for (const k of KINDS) {
    const r = await run(k);
    results.push(r);
    for (const [when, w] of [['before', r.before], ['after', r.after]] as const) {
      log(`${k.padEnd(8)} ${when.padEnd(7)} promoted ${(w.promoted_per_s / 1e6).toFixed(2).padStart(6)} MB/s, ${String(w.major).padStart(3)} full collections (${w.major_ms.toFixed(1)} ms), ${w.minor} young (${w.minor_ms.toFixed(1)} ms)`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify({ rate: RATE, seconds: SECONDS, results }, null, 1)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`table-churn.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// Throughput benchmark (`npm run bench:throughput`): the highest offered load each configuration
// sustains with p99 under a bound (default 10 ms), open loop over the WebSocket binary stream,
// side by side in one run: a hand-written uWebSockets.js + onnxruntime-node server
// (bench/handwritten-server.ts, not part of parm) and parm in mode none, equal-resources, and parm
// k = 2 and 4. Reports each sustained rate and its ratio to the hand-written baseline.
// Options: --bound=MS (p99 bound, default 10) --seconds=S (per probe, default 3) --warmup=S (1)
//          --connections=C (8) --start=R (first probe, q/s, default 500) --json
//          --only=LABEL,LABEL (those configurations, e.g. --only='hand-written,parm none'; ratios need hand-written)
import { cpus, loadavg } from 'node:os';
import { runScenario, startChild, stopChild } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => { const [k, ...v] = a.replace(/^--/, '').split('='); return [k!, v.join('=')] as [string, string]; }));
const BOUND = Number(args.get('bound') ?? 10);
const SECONDS = Number(args.get('seconds') ?? 3);
const WARMUP = Number(args.get('warmup') ?? 1);
const CONNECTIONS = Number(args.get('connections') ?? 8);
const START = Number(args.get('start') ?? 500);
const JSON_OUT = args.has('json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

interface Config {
  label: string;
  args: string[];
  handwritten?: boolean;
}

const ONLY = args.get('only')?.split(',');
const CONFIGS_ALL: Config[] = [
  { label: 'hand-written', args: ['--workers=2'], handwritten: true },
  { label: 'parm none', args: ['--system=none'] },
  { label: 'equal-resources', args: ['--system=equal-resources'] },
  { label: 'parm k=2', args: ['--system=parm', '--k=2'] },
  { label: 'parm k=4', args: ['--system=parm', '--k=4'] },
];
const CONFIGS = ONLY ? CONFIGS_ALL.filter((c) => ONLY.includes(c.label)) : CONFIGS_ALL;

/** Whether the server holds `rate` q/s: every request answered, none failed, p99 under the bound. */
async function holds(c: Config, port: number, model: string, rate: number): Promise<{ ok: boolean; p99: number; achieved: number }> {
  const r = await runScenario(c.label, port, model, 'ws', 'binary', { rate, seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, echo: false });
  const ok = r.errors === 0 && r.answered >= r.sent * 0.999 && r.p99 < BOUND;
  log(`  ${c.label.padEnd(16)} ${String(Math.round(rate)).padStart(6)} q/s: p99 ${r.p99.toFixed(2)} ms, answered ${r.answered}/${r.sent}, errors ${r.errors} -> ${ok ? 'holds' : 'no'}`);
  return { ok, p99: r.p99, achieved: r.achieved };
}

/**
 * Doubling from START until a rate fails, then bisection to within 5 %. A rate fails only when two
 * probes in a row miss the bound: one slow spell of a shared machine must not end the search.
 */
async function sustained(c: Config): Promise<number> {
  const model = c.handwritten ? 'm' : undefined;
  const { child, port, model: served } = await startChild(c.handwritten ? [...c.args, `--model=${await defaultModel()}`] : c.args, c.handwritten);
  const sustains = async (rate: number) => (await holds(c, port, model ?? served, rate)).ok || (await holds(c, port, model ?? served, rate)).ok;
  try {
    let lo = 0;
    let hi = START;
    while (await sustains(hi)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 0.05 * hi) {
      const mid = (lo + hi) / 2;
      if (await sustains(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  } finally {
    await stopChild(child);
  }
}

async function defaultModel(): Promise<string> {
  const { bundledManifestPath, deploymentFromManifest, readManifest } = await import('../src/engine/manifest.js');
  const m = bundledManifestPath();
  return deploymentFromManifest(m, readManifest(m).default, { k: 2 }).deployedModel!;
}

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadavg_before: loadavg(), node: process.version };
  log(`CPU: ${machine.cpu} (${machine.cores} cores, load ${machine.loadavg_before.map((x) => x.toFixed(2)).join(' ')}); Node ${machine.node}`);
  log(`sustained load = highest offered rate with p99 < ${BOUND} ms and every request answered (${SECONDS} s probes after ${WARMUP} s warm-up, ${CONNECTIONS} connections)`);
  const results: { label: string; sustained_qps: number; ratio_to_handwritten: number }[] = [];
  for (const c of CONFIGS) {
    const qps = await sustained(c);
    results.push({ label: c.label, sustained_qps: qps, ratio_to_handwritten: NaN });
  }
  const base = results.find((r) => r.label === 'hand-written')?.sustained_qps ?? NaN;
  for (const r of results) r.ratio_to_handwritten = r.sustained_qps / base;
  log('\nconfiguration     sustained q/s   / hand-written');
  for (const r of results) log(`${r.label.padEnd(18)}${String(Math.round(r.sustained_qps)).padStart(13)}   ${r.ratio_to_handwritten.toFixed(2)}x`);
  if (JSON_OUT) process.stdout.write(`${JSON.stringify({ machine: { ...machine, loadavg_after: loadavg() }, bound_ms: BOUND, seconds: SECONDS, results }, null, 1)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`throughput.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

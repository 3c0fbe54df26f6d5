// Node timer benchmark (`npm run bench:timers`): how long setTimeout(fn, ms) takes for the
// fractional waits the engine sets (the adaptive parity wait, src/engine/parity-start.ts), beside
// what the simulated engine's clock assumes (src/sim/virtual-clock.ts nodeTimerDelay: ms
// truncated, at least 1). Options: --runs=N (per wait, default 300) --json
import { cpus, loadavg } from 'node:os';
import { nodeTimerDelay } from '../src/sim/virtual-clock.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RUNS = Number(args.get('runs') ?? 300);
const WAITS_MS = [0.2, 1, 1.23, 1.5, 1.99, 2.05, 3];

async function main(): Promise<void> {
  const rows: { wait_ms: number; simulated_ms: number; p10_ms: number; p50_ms: number; p90_ms: number }[] = [];
  for (const wait of WAITS_MS) {
    const took: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      // A random phase within the millisecond, as a window closes at any moment.
      await new Promise((r) => setTimeout(r, Math.random() * 2));
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, wait));
      took.push(performance.now() - t0);
    }
    took.sort((a, b) => a - b);
    const q = (p: number): number => took[Math.floor(p * (took.length - 1))]!;
    rows.push({ wait_ms: wait, simulated_ms: nodeTimerDelay(wait), p10_ms: q(0.1), p50_ms: q(0.5), p90_ms: q(0.9) });
  }
  if (args.has('json')) {
    process.stdout.write(`${JSON.stringify({ node: process.version, cpu: cpus()[0]?.model, load_average: loadavg(), runs: RUNS, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`setTimeout(fn, wait) on Node ${process.version}, ${cpus()[0]?.model}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}, ${RUNS} runs per wait\n`);
  process.stdout.write('| wait ms | simulated ms | took p10 | p50 | p90 |\n|---:|---:|---:|---:|---:|\n');
  for (const r of rows) process.stdout.write(`| ${r.wait_ms} | ${r.simulated_ms} | ${r.p10_ms.toFixed(2)} | ${r.p50_ms.toFixed(2)} | ${r.p90_ms.toFixed(2)} |\n`);
}

await main();

// Idle-run benchmark (`npm run bench:idle`): how long one onnxruntime run of the bundled deployed
// model takes right after another and after the thread idled for 1, 5 and 10 ms, on this thread.
// The figure behind the engine's warm-first instance choice (src/engine/free-instances.ts).
// Options: --runs=N (per gap, default 300) --json
import { cpus, loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { bundledManifestPath, deploymentFromManifest, readManifest } from '../src/engine/manifest.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RUNS = Number(args.get('runs') ?? 300);
const GAPS_MS = [0, 1, 5, 10];

async function main(): Promise<void> {
  const manifest = bundledManifestPath();
  const model = deploymentFromManifest(manifest, readManifest(manifest).default, { k: 2 }).deployedModel!;
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const m = s.inputMetadata[0]!;
  const dims = m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)) : [1];
  const feeds = { [s.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.3), dims) };
  for (let i = 0; i < 50; i++) await s.run(feeds);
  const rows: { gap_ms: number; run_p50_us: number; run_p90_us: number; cpu_per_run_us: number }[] = [];
  for (const gap of GAPS_MS) {
    const times: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < RUNS; i++) {
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      const t0 = performance.now();
      await s.run(feeds);
      times.push((performance.now() - t0) * 1000);
    }
    const c = process.cpuUsage(cpu0);
    times.sort((a, b) => a - b);
    rows.push({ gap_ms: gap, run_p50_us: times[RUNS >> 1]!, run_p90_us: times[Math.floor(RUNS * 0.9)]!, cpu_per_run_us: (c.user + c.system) / RUNS });
  }
  await s.release();
  if (args.has('json')) {
    process.stdout.write(`${JSON.stringify({ machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavg: loadavg() }, model, runs: RUNS, rows }, null, 1)}\n`);
    return;
  }
  process.stdout.write(`${model}, ${RUNS} runs per gap; CPU ${cpus()[0]?.model} (${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')})\n`);
  process.stdout.write('idle before a run   run p50 µs   run p90 µs   process CPU per run µs (timer wake-up included)\n');
  for (const r of rows) process.stdout.write(`${String(r.gap_ms).padStart(8)} ms ${r.run_p50_us.toFixed(0).padStart(12)} ${r.run_p90_us.toFixed(0).padStart(12)} ${r.cpu_per_run_us.toFixed(0).padStart(12)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`idle-run.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

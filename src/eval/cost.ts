// The cost rule as `parm eval` measures it: a parity model may cost no more than its deployed
// model. parity_flops_ratio comes from the one counter (training/cost.py: multiply-adds of
// Gemm/MatMul/Conv in the ONNX graph at batch 1, run as `python3 -m training cost`);
// parity_latency_ratio is measured here with onnxruntime-node, one thread, batch 1, the two models
// run alternately in this one process, median per model. Within budget: flops ratio <= 1.0 (the
// latency ratio is reported, and noise lets it reach about 1.1 for equal graphs).
// Sessions run on the calling thread: `parm eval` serves nothing, so blocking it costs nothing.
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { usage } from '../cli/usage.js';
import { runTrainer } from '../trainer.js';

export const FLOPS_BUDGET = 1.0;

export interface LatencyMeasure {
  deployed_ms: number;
  parity_ms: number;
  /** Timed runs per model (after warm-up), alternating deployed / parity. */
  runs: number;
  threads: 1;
  batch: 1;
}

export interface CostRecord {
  deployed_macs: number;
  parity_macs: number;
  parity_flops_ratio: number;
  parity_latency_ratio: number;
  within_budget: boolean;
  latency: LatencyMeasure;
}

/** Multiply-adds per query (batch 1) of each ONNX model, counted by training/cost.py. */
export async function countMacs(paths: readonly string[]): Promise<Map<string, number>> {
  for (const p of paths) if (!existsSync(p)) usage(`model ${p} does not exist`);
  const run = await runTrainer(['cost', ...paths], { capture: true });
  if (run.code !== 0) {
    const last = run.stderr.trim().split('\n').pop() ?? '';
    usage(`counting multiply-adds failed (python3 -m training cost): ${last.replace(/^parm train: /, '')}; ` +
      'the counter needs python3-onnx (apt-get install python3-onnx)');
  }
  let parsed: Record<string, { macs: number }>;
  try {
    parsed = JSON.parse(run.stdout) as Record<string, { macs: number }>;
  } catch {
    return usage(`python3 -m training cost printed no JSON: ${run.stdout.slice(0, 200)}`);
  }
  return new Map(paths.map((p) => {
    const macs = parsed[p]?.macs;
    if (typeof macs !== 'number') usage(`python3 -m training cost gave no count for ${p}`);
    return [p, macs];
  }));
}

async function openSingleThreaded(path: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  } catch (err) {
    return usage(`cannot load ONNX model ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
}

function batchOneInput(session: ort.InferenceSession, path: string): ort.Tensor {
  const meta = session.inputMetadata[0];
  if (session.inputNames.length !== 1 || meta === undefined || !meta.isTensor) usage(`model ${path} must have one tensor input`);
  const dims = meta.shape.map((d, i) => (i === 0 ? 1 : d));
  if (dims.some((d) => typeof d !== 'number' || d < 1)) usage(`model ${path}: input shape [${meta.shape.join(', ')}] has a symbolic dimension besides the batch`);
  const shape = dims as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  // Deterministic inputs in [0, 1) (the models' input range); the cost does not depend on them.
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) >>> 0) / 4294967296;
  return new ort.Tensor('float32', data, shape);
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Latency of the parity model against its deployed model at batch 1 on one thread: both sessions
 * in this process, warmed up, then `runs` runs of each, alternating which goes first, each timed
 * alone; the ratio of the medians.
 */
export async function measureLatency(deployedPath: string, parityPath: string, runs = 1000): Promise<{ ratio: number; measure: LatencyMeasure }> {
  const dep = await openSingleThreaded(deployedPath);
  const par = await openSingleThreaded(parityPath);
  try {
    const dIn = { [dep.inputNames[0]!]: batchOneInput(dep, deployedPath) };
    const pIn = { [par.inputNames[0]!]: batchOneInput(par, parityPath) };
    for (let i = 0; i < 50; i++) {
      await dep.run(dIn);
      await par.run(pIn);
    }
    const dt: number[] = [], pt: number[] = [];
    const timed = async (s: ort.InferenceSession, feeds: Record<string, ort.Tensor>, into: number[]) => {
      const t0 = performance.now();
      await s.run(feeds);
      into.push(performance.now() - t0);
    };
    for (let i = 0; i < runs; i++) {
      if (i % 2 === 0) {
        await timed(dep, dIn, dt);
        await timed(par, pIn, pt);
      } else {
        await timed(par, pIn, pt);
        await timed(dep, dIn, dt);
      }
    }
    const d = median(dt), p = median(pt);
    return { ratio: p / d, measure: { deployed_ms: d, parity_ms: p, runs, threads: 1, batch: 1 } };
  } finally {
    await dep.release();
    await par.release();
  }
}

/** The cost rule for one parity model against its deployed model. `macs` may carry counts already made. */
export async function parityCost(deployedPath: string, parityPath: string,
                                 opts: { macs?: Map<string, number>; runs?: number } = {}): Promise<CostRecord> {
  const macs = opts.macs ?? await countMacs([deployedPath, parityPath]);
  const d = macs.get(deployedPath), p = macs.get(parityPath);
  if (d === undefined || p === undefined) usage(`no multiply-add count for ${d === undefined ? deployedPath : parityPath}`);
  if (d <= 0) usage(`${deployedPath}: the deployed model has no Gemm/MatMul/Conv multiply-adds; the cost rule needs a positive cost`);
  const lat = await measureLatency(deployedPath, parityPath, opts.runs);
  const ratio = p / d;
  return {
    deployed_macs: d, parity_macs: p, parity_flops_ratio: ratio, parity_latency_ratio: lat.ratio,
    within_budget: ratio <= FLOPS_BUDGET, latency: lat.measure,
  };
}

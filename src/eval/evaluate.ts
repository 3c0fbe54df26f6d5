// Accuracy of deployed and parity models measured through the serving path: onnxruntime-node for
// inference and the native codec (src/codec, Contract 1) for encoding and decoding, never Python.
//
// Method: the test set in groups of k consecutive images (the last N mod k images are left out).
// Every member of every group is reconstructed once from Fp(P) and the other k - 1 deployed
// outputs with codec.decode (with the manifest's coefficients for a weighted sum encoder);
// degraded-mode accuracy is the fraction of reconstructions whose argmax is the true label.
// Floors: the deployed model used as its own parity model (same encoding and decoding), and
// always answering the training set's most frequent class. Each parity model's cost against its
// deployed model (the cost rule) comes from src/eval/cost.ts.
// This runs onnxruntime sessions on the main thread: `parm eval` serves nothing, so blocking
// its event loop costs nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as codec from '../codec/index.js';
import { usage } from '../cli/usage.js';
import { type EvalDataset, loadEvalDataset } from '../dataset.js';
import { readManifest, type ManifestDeployment } from '../engine/manifest.js';
import { packageRoot } from '../package-root.js';
import { countMacs, parityCost, type LatencyMeasure } from './cost.js';

export const DEFAULT_FRACTIONS = [0.01, 0.05, 0.1] as const;

/**
 * Accuracy goals for the bundled Fashion-MNIST deployments (docs/training.md): the largest drop
 * from the deployed model's accuracy, in points, or the least degraded-mode accuracy, per k.
 */
export const ACCURACY_GOALS: Readonly<Record<number, { max_drop_points: number } | { min_degraded_accuracy: number }>> = {
  2: { max_drop_points: 3 }, 3: { max_drop_points: 6 }, 4: { max_drop_points: 9 }, 8: { min_degraded_accuracy: 0.74 },
};

export interface EvalOptions {
  /** Folder with manifest.json; default the bundled models/. */
  modelsDir?: string;
  /** Dataset folder (IDX or .npy); default the Fashion-MNIST IDX files from Debian. */
  datasetDir?: string;
  /** Evaluate only the first `limit` test inputs. */
  limit?: number;
  /** Only these deployments (manifest names); default all. */
  deployments?: string[];
  /** Fractions f of reconstructed predictions for the overall-accuracy figure. */
  fractions?: readonly number[];
  /** Timed runs per model for parity_latency_ratio (default 1000). */
  latencyRuns?: number;
  /** Progress messages (one line each). */
  onProgress?: (message: string) => void;
}

export interface EvalRecord {
  deployment: string;
  model: string;
  dataset: string;
  k: number;
  encoder: string;
  parity_model: string;
  /** From the parity model's card: 'deployed' (the deployed model's architecture) or e.g. 'split mlp 432-216'; null without a card. */
  parity_architecture: string | null;
  deployed_accuracy: number;
  degraded_accuracy: number;
  floor_self_parity_accuracy: number;
  floor_majority_accuracy: number;
  /** Overall accuracy if a fraction f of predictions were reconstructions: (1 - f) * deployed + f * degraded. */
  overall_at_f: Record<string, number>;
  test_groups: number;
  reconstructions: number;
  /** Sum encoder weights (absent: all ones). */
  coefficients?: number[];
  /** The cost rule: Gemm/MatMul/Conv multiply-adds at batch 1, parity / deployed (<= 1.0 within budget). */
  parity_flops_ratio: number;
  /** onnxruntime-node, one thread, batch 1, median of alternating runs, parity / deployed. */
  parity_latency_ratio: number;
  within_budget: boolean;
  deployed_macs: number;
  parity_macs: number;
  latency: LatencyMeasure;
}

/** The best within-budget parity model for one k, measured against its goal (ACCURACY_GOALS). */
export interface BestForK {
  k: number;
  deployment: string;
  encoder: string;
  parity_model: string;
  deployed_accuracy: number;
  degraded_accuracy: number;
  /** deployed - degraded, in points. */
  drop_points: number;
  parity_flops_ratio: number;
  goal: { max_drop_points: number } | { min_degraded_accuracy: number } | null;
  meets_goal: boolean | null;
}

export interface EvalReport {
  dataset: { name: string; path: string; test_inputs: number };
  models_dir: string;
  method: string;
  codec_isa: string;
  deployments: { deployment: string; model: string; deployed_accuracy: number; floor_majority_accuracy: number; test_inputs: number }[];
  results: EvalRecord[];
  /** Per k, the within-budget parity model with the smallest drop (k with an accuracy goal: the most accurate). */
  best_within_budget: BestForK[];
}

const METHOD = 'test set in groups of k consecutive inputs; every member of every group reconstructed once ' +
  'from the parity output and the other k-1 deployed outputs (codec.decode); argmax vs true label';

interface Model { session: ort.InferenceSession; path: string; inputName: string; outputName: string }

async function openModel(path: string, ds: EvalDataset): Promise<Model> {
  if (!existsSync(path)) usage(`model ${path} does not exist; check the manifest or retrain it (docs/training.md)`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  } catch (err) {
    usage(`cannot load ONNX model ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const meta = session.inputMetadata[0];
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1 || meta === undefined) {
    usage(`model ${path} must have one input and one output (Contract 3)`);
  }
  if (meta.isTensor) {
    const got = meta.shape.slice(1);
    const want = ds.inputShape;
    if (got.length !== want.length || got.some((d, i) => typeof d === 'number' && d !== want[i])) {
      usage(`model ${path} takes input [${meta.shape.map((d) => (typeof d === 'number' ? d : -1)).join(', ')}] but dataset ${ds.name} has inputs ` +
        `[-1, ${want.join(', ')}]: pass --dataset with the data the model was trained on`);
    }
  }
  return { session, path, inputName: session.inputNames[0]!, outputName: session.outputNames[0]! };
}

/** Runs a model over n inputs (row-major in `inputs`) in batches; returns n x classes logits. */
async function infer(model: Model, inputs: Float32Array, n: number, inputShape: number[], classes: number,
                     batch = 1000): Promise<Float32Array> {
  const e = inputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * classes);
  for (let s = 0; s < n; s += batch) {
    const b = Math.min(batch, n - s);
    const t = new ort.Tensor('float32', inputs.slice(s * e, (s + b) * e), [b, ...inputShape]);
    const res = await model.session.run({ [model.inputName]: t });
    const logits = res[model.outputName]!;
    if (logits.dims.length !== 2 || logits.dims[0] !== b || logits.dims[1] !== classes) {
      usage(`model ${model.path} returned logits [${logits.dims.join(', ')}], expected [${b}, ${classes}]`);
    }
    out.set(logits.data as Float32Array, s * classes);
  }
  return out;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

function accuracy(logits: Float32Array, labels: Int32Array, n: number, classes: number): number {
  let correct = 0;
  for (let i = 0; i < n; i++) if (argmax(logits.subarray(i * classes, (i + 1) * classes)) === labels[i]) correct++;
  return correct / n;
}

/** Encodes groups of k consecutive inputs into one parity query each, with the native codec. */
function encodeGroups(ds: EvalDataset, groups: number, k: number, encoder: string, coefficients?: number[]): Float32Array {
  const e = ds.inputShape.reduce((a, b) => a * b, 1);
  const parity = new Float32Array(groups * e);
  const shape = ds.inputShape.length === 3
    ? { channels: ds.inputShape[0]!, height: ds.inputShape[1]!, width: ds.inputShape[2]! }
    : undefined;
  if (encoder === 'concat' && shape === undefined) usage(`the concat encoder needs image inputs; dataset ${ds.name} has [${ds.inputShape.join(', ')}]`);
  for (let g = 0; g < groups; g++) {
    const members = Array.from({ length: k }, (_, j) => ds.testInputs.subarray((g * k + j) * e, (g * k + j + 1) * e));
    const out = parity.subarray(g * e, (g + 1) * e);
    if (encoder === 'sum') codec.encodeSum(members, coefficients ? { weights: coefficients, out } : { out });
    else if (encoder === 'concat') codec.encodeConcat(members, shape!, { out });
    else usage(`unknown encoder '${encoder}' in the manifest: use sum or concat`);
  }
  return parity;
}

/** Reconstructs every member of every group; returns the fraction whose argmax is the label. */
function degradedAccuracy(parityOut: Float32Array, deployedOut: Float32Array, labels: Int32Array,
                          groups: number, k: number, classes: number, coefficients?: number[]): number {
  let correct = 0;
  for (let g = 0; g < groups; g++) {
    const p = parityOut.subarray(g * classes, (g + 1) * classes);
    const outs = Array.from({ length: k }, (_, j) => deployedOut.subarray((g * k + j) * classes, (g * k + j + 1) * classes));
    for (let i = 0; i < k; i++) {
      const data = outs.map((o, j) => (j === i ? null : o));
      const [rec] = coefficients ? codec.decode([p], data, { coefficients: [coefficients] }) : codec.decode([p], data);
      if (argmax(rec!) === labels[g * k + i]) correct++;
    }
  }
  return correct / (groups * k);
}

interface CardArchitecture { kind: string; hidden?: number[]; channels?: number[]; inner?: CardArchitecture }

function readArchitecture(cardPath: string | undefined): CardArchitecture | null {
  if (cardPath === undefined || !existsSync(cardPath)) return null;
  try {
    return (JSON.parse(readFileSync(cardPath, 'utf8')) as { architecture?: CardArchitecture }).architecture ?? null;
  } catch {
    return null;
  }
}

/** A short name of a parity model's architecture relative to its deployed model's. */
function describeArchitecture(parity: CardArchitecture | null, deployed: CardArchitecture | null): string | null {
  if (parity === null) return null;
  if (deployed !== null && JSON.stringify(parity) === JSON.stringify(deployed)) return 'deployed';
  const widths = (a: CardArchitecture) => [...(a.channels ?? []), ...(a.hidden ?? [])].join('-');
  return parity.inner ? `${parity.kind} ${parity.inner.kind} ${widths(parity.inner)}` : `${parity.kind} ${widths(parity)}`;
}

function majorityClass(labels: Int32Array): number {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let best = -1, bestCount = -1;
  for (const [l, c] of counts) if (c > bestCount || (c === bestCount && l < best)) [best, bestCount] = [l, c];
  return best;
}

export async function evaluate(opts: EvalOptions = {}): Promise<EvalReport> {
  const progress = opts.onProgress ?? (() => {});
  const fractions = opts.fractions ?? DEFAULT_FRACTIONS;
  const dir = resolve(opts.modelsDir ?? join(packageRoot(), 'models'));
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile)) {
    usage(`${manifestFile} does not exist; pass --models DIR with a manifest.json (write one with: python3 -m training manifest --models DIR)`);
  }
  const manifest = readManifest(manifestFile);
  const ds = loadEvalDataset(opts.datasetDir);
  const total = ds.testLabels.length;
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) usage(`--limit must be a positive integer, got ${opts.limit}`);
  const n = Math.min(total, opts.limit ?? total);
  // The default deployment first, then the others in manifest order.
  const names = opts.deployments ?? Object.keys(manifest.deployments).sort((a, b) => Number(b === manifest.default) - Number(a === manifest.default));
  const majority = majorityClass(ds.trainLabels);
  let majorityCorrect = 0;
  for (let i = 0; i < n; i++) if (ds.testLabels[i] === majority) majorityCorrect++;
  const floorMajority = majorityCorrect / n;
  const report: EvalReport = {
    dataset: { name: ds.name, path: ds.path, test_inputs: n }, models_dir: dir, method: METHOD,
    codec_isa: codec.capabilities().isa, deployments: [], results: [], best_within_budget: [],
  };
  for (const name of names) {
    if (manifest.deployments[name] === undefined) usage(`no deployment '${name}' in ${join(dir, 'manifest.json')} (has: ${Object.keys(manifest.deployments).join(', ')})`);
  }
  progress('counting multiply-adds (python3 -m training cost)');
  const macs = await countMacs([...new Set(names.flatMap((name) => {
    const d = manifest.deployments[name]!;
    return [join(dir, d.deployed), ...d.parity.map((p) => join(dir, p.path))];
  }))]);
  for (const name of names) {
    const d: ManifestDeployment = manifest.deployments[name]!;
    const classes = d.output?.shape?.[1] ?? ds.classes.length;
    progress(`${name}: deployed model on ${n} test inputs`);
    const deployed = await openModel(join(dir, d.deployed), ds);
    const deployedOut = await infer(deployed, ds.testInputs, n, ds.inputShape, classes);
    const deployedAcc = accuracy(deployedOut, ds.testLabels, n, classes);
    const model = d.model ?? name;
    report.deployments.push({ deployment: name, model, deployed_accuracy: deployedAcc, floor_majority_accuracy: floorMajority, test_inputs: n });
    const deployedArch = readArchitecture(d.card === undefined ? undefined : join(dir, d.card));
    const parities = [...d.parity].sort((a, b) => (a.encoder === b.encoder ? a.k - b.k : a.encoder === 'sum' ? -1 : 1));
    for (const p of parities) {
      if (!Number.isInteger(p.k) || p.k < 2) usage(`${name}: parity model ${p.path} has k = ${p.k}; k must be at least 2`);
      const groups = Math.floor(n / p.k);
      if (groups < 1) usage(`--limit ${n} leaves no group of k = ${p.k}`);
      progress(`${name}: parity ${p.encoder} k=${p.k} on ${groups} groups`);
      const coefficients = p.coefficients;
      const parityIn = encodeGroups(ds, groups, p.k, p.encoder, coefficients);
      const parityModel = await openModel(join(dir, p.path), ds);
      const parityOut = await infer(parityModel, parityIn, groups, ds.inputShape, classes);
      await parityModel.session.release();
      const selfOut = await infer(deployed, parityIn, groups, ds.inputShape, classes);
      const degraded = degradedAccuracy(parityOut, deployedOut, ds.testLabels, groups, p.k, classes, coefficients);
      const floorSelf = degradedAccuracy(selfOut, deployedOut, ds.testLabels, groups, p.k, classes, coefficients);
      progress(`${name}: parity ${p.encoder} k=${p.k} cost against the deployed model`);
      const c = await parityCost(join(dir, d.deployed), join(dir, p.path), { macs, runs: opts.latencyRuns });
      report.results.push({
        deployment: name, model, dataset: d.dataset ?? ds.name, k: p.k, encoder: p.encoder, parity_model: p.path,
        parity_architecture: describeArchitecture(readArchitecture(p.card === undefined ? undefined : join(dir, p.card)), deployedArch),
        deployed_accuracy: deployedAcc, degraded_accuracy: degraded, floor_self_parity_accuracy: floorSelf,
        floor_majority_accuracy: floorMajority,
        overall_at_f: Object.fromEntries(fractions.map((f) => [String(f), (1 - f) * deployedAcc + f * degraded])),
        test_groups: groups, reconstructions: groups * p.k,
        ...(coefficients ? { coefficients } : {}),
        parity_flops_ratio: c.parity_flops_ratio, parity_latency_ratio: c.parity_latency_ratio, within_budget: c.within_budget,
        deployed_macs: c.deployed_macs, parity_macs: c.parity_macs, latency: c.latency,
      });
    }
    await deployed.session.release();
  }
  report.best_within_budget = bestWithinBudget(report.results);
  return report;
}

/** Per k, the within-budget record that best meets that k's goal (the smallest drop, or for an accuracy goal the highest accuracy). */
export function bestWithinBudget(results: readonly EvalRecord[]): BestForK[] {
  const ks = [...new Set(results.filter((r) => r.within_budget).map((r) => r.k))].sort((a, b) => a - b);
  return ks.map((k) => {
    const goal = ACCURACY_GOALS[k] ?? null;
    const byAccuracy = goal !== null && 'min_degraded_accuracy' in goal;
    const score = (r: EvalRecord) => (byAccuracy ? r.degraded_accuracy : r.degraded_accuracy - r.deployed_accuracy);
    const best = results.filter((r) => r.within_budget && r.k === k).reduce((a, b) => (score(b) > score(a) ? b : a));
    const drop = 100 * (best.deployed_accuracy - best.degraded_accuracy);
    return {
      k, deployment: best.deployment, encoder: best.encoder, parity_model: best.parity_model,
      deployed_accuracy: best.deployed_accuracy, degraded_accuracy: best.degraded_accuracy, drop_points: drop,
      parity_flops_ratio: best.parity_flops_ratio, goal,
      meets_goal: goal === null ? null : 'max_drop_points' in goal ? drop <= goal.max_drop_points : best.degraded_accuracy >= goal.min_degraded_accuracy,
    };
  });
}

const pct = (v: number) => (100 * v).toFixed(2);

/** The terminal table: one row per deployment, k and encoder. */
export function formatTable(report: EvalReport): string {
  const fr = report.results[0] ? Object.keys(report.results[0].overall_at_f) : DEFAULT_FRACTIONS.map(String);
  const head = ['deployment', 'k', 'encoder', 'parity architecture', 'deployed %', 'degraded %', 'drop', 'self-parity floor %', 'majority floor %',
    ...fr.map((f) => `overall@f=${Number(f) * 100}%`), 'flops ratio', 'latency ratio', 'within budget', 'groups'];
  const rows = report.results.map((r) => [
    r.deployment, String(r.k), r.encoder, r.parity_architecture ?? '?', pct(r.deployed_accuracy), pct(r.degraded_accuracy),
    (100 * (r.deployed_accuracy - r.degraded_accuracy)).toFixed(2), pct(r.floor_self_parity_accuracy),
    pct(r.floor_majority_accuracy), ...fr.map((f) => pct(r.overall_at_f[f]!)),
    r.parity_flops_ratio.toFixed(3), r.parity_latency_ratio.toFixed(2), r.within_budget ? 'yes' : 'NO', String(r.test_groups),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  if (report.best_within_budget.length > 0) {
    out.push('', 'best within budget per k:');
    for (const b of report.best_within_budget) {
      const goal = b.goal === null ? 'no goal' : 'max_drop_points' in b.goal ? `goal: drop <= ${b.goal.max_drop_points}` : `goal: >= ${pct(b.goal.min_degraded_accuracy)} %`;
      const verdict = b.meets_goal === null ? '' : b.meets_goal ? ' (met)' : ' (missed)';
      out.push(`  k=${b.k}: ${b.deployment} ${b.encoder}: ${pct(b.degraded_accuracy)} % (drop ${b.drop_points.toFixed(2)}; ${goal}${verdict})`);
    }
  }
  out.push('', `dataset ${report.dataset.name}: ${report.dataset.test_inputs} test inputs; codec ISA ${report.codec_isa}`);
  out.push(`method: ${report.method}`);
  out.push('cost: flops ratio = Gemm/MatMul/Conv multiply-adds at batch 1, parity / deployed (within budget: <= 1.0); ' +
    'latency ratio = onnxruntime-node, one thread, batch 1, median of alternating runs');
  return out.join('\n') + '\n';
}

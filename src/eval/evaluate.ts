// Accuracy of deployed and parity models measured through the serving path: onnxruntime-node for
// inference and the native codec (src/codec, Contract 1) for encoding and decoding, never Python.
//
// Method: the test set in groups of k consecutive images (the last N mod k images are left out).
// Every member of every group is reconstructed once from Fp(P) and the other k - 1 deployed
// outputs with codec.decode; degraded-mode accuracy is the fraction of reconstructions whose
// argmax is the true label. Floors: the deployed model used as its own parity model (same
// encoding and decoding), and always answering the training set's most frequent class.
// This runs onnxruntime sessions on the main thread: `parm eval` serves nothing, so blocking
// its event loop costs nothing.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import * as codec from '../codec/index.js';
import { ParmError } from '../errors.js';
import { type EvalDataset, loadEvalDataset } from './dataset.js';
import { readManifest, type ManifestDeployment } from '../engine/manifest.js';
import { packageRoot } from '../package-root.js';

export const DEFAULT_FRACTIONS = [0.01, 0.05, 0.1] as const;

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
  deployed_accuracy: number;
  degraded_accuracy: number;
  floor_self_parity_accuracy: number;
  floor_majority_accuracy: number;
  /** Overall accuracy if a fraction f of predictions were reconstructions: (1 - f) * deployed + f * degraded. */
  overall_at_f: Record<string, number>;
  test_groups: number;
  reconstructions: number;
}

export interface EvalReport {
  dataset: { name: string; path: string; test_inputs: number };
  models_dir: string;
  method: string;
  codec_isa: string;
  deployments: { deployment: string; model: string; deployed_accuracy: number; floor_majority_accuracy: number; test_inputs: number }[];
  results: EvalRecord[];
}

const METHOD = 'test set in groups of k consecutive inputs; every member of every group reconstructed once ' +
  'from the parity output and the other k-1 deployed outputs (codec.decode); argmax vs true label';

function usage(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

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
function encodeGroups(ds: EvalDataset, groups: number, k: number, encoder: string): Float32Array {
  const e = ds.inputShape.reduce((a, b) => a * b, 1);
  const parity = new Float32Array(groups * e);
  const shape = ds.inputShape.length === 3
    ? { channels: ds.inputShape[0]!, height: ds.inputShape[1]!, width: ds.inputShape[2]! }
    : undefined;
  if (encoder === 'concat' && shape === undefined) usage(`the concat encoder needs image inputs; dataset ${ds.name} has [${ds.inputShape.join(', ')}]`);
  for (let g = 0; g < groups; g++) {
    const members = Array.from({ length: k }, (_, j) => ds.testInputs.subarray((g * k + j) * e, (g * k + j + 1) * e));
    const out = parity.subarray(g * e, (g + 1) * e);
    if (encoder === 'sum') codec.encodeSum(members, { out });
    else if (encoder === 'concat') codec.encodeConcat(members, shape!, { out });
    else usage(`unknown encoder '${encoder}' in the manifest: use sum or concat`);
  }
  return parity;
}

/** Reconstructs every member of every group; returns the fraction whose argmax is the label. */
function degradedAccuracy(parityOut: Float32Array, deployedOut: Float32Array, labels: Int32Array,
                          groups: number, k: number, classes: number): number {
  let correct = 0;
  for (let g = 0; g < groups; g++) {
    const p = parityOut.subarray(g * classes, (g + 1) * classes);
    const outs = Array.from({ length: k }, (_, j) => deployedOut.subarray((g * k + j) * classes, (g * k + j + 1) * classes));
    for (let i = 0; i < k; i++) {
      const data = outs.map((o, j) => (j === i ? null : o));
      const [rec] = codec.decode([p], data);
      if (argmax(rec!) === labels[g * k + i]) correct++;
    }
  }
  return correct / (groups * k);
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
    codec_isa: codec.capabilities().isa, deployments: [], results: [],
  };
  for (const name of names) {
    const d: ManifestDeployment | undefined = manifest.deployments[name];
    if (d === undefined) usage(`no deployment '${name}' in ${join(dir, 'manifest.json')} (has: ${Object.keys(manifest.deployments).join(', ')})`);
    const classes = d.output?.shape?.[1] ?? ds.classes.length;
    progress(`${name}: deployed model on ${n} test inputs`);
    const deployed = await openModel(join(dir, d.deployed), ds);
    const deployedOut = await infer(deployed, ds.testInputs, n, ds.inputShape, classes);
    const deployedAcc = accuracy(deployedOut, ds.testLabels, n, classes);
    const model = d.model ?? name;
    report.deployments.push({ deployment: name, model, deployed_accuracy: deployedAcc, floor_majority_accuracy: floorMajority, test_inputs: n });
    const parities = [...d.parity].sort((a, b) => (a.encoder === b.encoder ? a.k - b.k : a.encoder === 'sum' ? -1 : 1));
    for (const p of parities) {
      if (!Number.isInteger(p.k) || p.k < 2) usage(`${name}: parity model ${p.path} has k = ${p.k}; k must be at least 2`);
      const groups = Math.floor(n / p.k);
      if (groups < 1) usage(`--limit ${n} leaves no group of k = ${p.k}`);
      progress(`${name}: parity ${p.encoder} k=${p.k} on ${groups} groups`);
      const parityIn = encodeGroups(ds, groups, p.k, p.encoder);
      const parityModel = await openModel(join(dir, p.path), ds);
      const parityOut = await infer(parityModel, parityIn, groups, ds.inputShape, classes);
      await parityModel.session.release();
      const selfOut = await infer(deployed, parityIn, groups, ds.inputShape, classes);
      const degraded = degradedAccuracy(parityOut, deployedOut, ds.testLabels, groups, p.k, classes);
      const floorSelf = degradedAccuracy(selfOut, deployedOut, ds.testLabels, groups, p.k, classes);
      report.results.push({
        deployment: name, model, dataset: d.dataset ?? ds.name, k: p.k, encoder: p.encoder, parity_model: p.path,
        deployed_accuracy: deployedAcc, degraded_accuracy: degraded, floor_self_parity_accuracy: floorSelf,
        floor_majority_accuracy: floorMajority,
        overall_at_f: Object.fromEntries(fractions.map((f) => [String(f), (1 - f) * deployedAcc + f * degraded])),
        test_groups: groups, reconstructions: groups * p.k,
      });
    }
    await deployed.session.release();
  }
  return report;
}

const pct = (v: number) => (100 * v).toFixed(2);

/** The terminal table: one row per deployment, k and encoder. */
export function formatTable(report: EvalReport): string {
  const fr = report.results[0] ? Object.keys(report.results[0].overall_at_f) : DEFAULT_FRACTIONS.map(String);
  const head = ['deployment', 'k', 'encoder', 'deployed %', 'degraded %', 'gap', 'self-parity floor %', 'majority floor %',
    ...fr.map((f) => `overall@f=${Number(f) * 100}%`), 'groups'];
  const rows = report.results.map((r) => [
    r.deployment, String(r.k), r.encoder, pct(r.deployed_accuracy), pct(r.degraded_accuracy),
    (100 * (r.deployed_accuracy - r.degraded_accuracy)).toFixed(2), pct(r.floor_self_parity_accuracy),
    pct(r.floor_majority_accuracy), ...fr.map((f) => pct(r.overall_at_f[f]!)), String(r.test_groups),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  out.push('', `dataset ${report.dataset.name}: ${report.dataset.test_inputs} test inputs; codec ISA ${report.codec_isa}`);
  out.push(`method: ${report.method}`);
  return out.join('\n') + '\n';
}

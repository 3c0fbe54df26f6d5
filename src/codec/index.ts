// The typed codec API (Contract 1): summation / batched / concatenation encoders and the decoder,
// computed by the native addon (Contract 2 arithmetic, float32). This layer fills in defaults,
// allocates outputs and checks what it must know to do so; the addon checks everything else.
import type { Layout, NativeCapabilities } from '../addon/binding.js';
import { addon as native } from '../addon/load.js';

export type { Layout } from '../addon/binding.js';
export { DeviceBuffer, copyDevice, encodeSumDevice, encodeConcatDevice, decodeDevice } from './device.js';

export interface SumOptions {
  /** One real coefficient per input (rounded to float32); default all ones. */
  weights?: ArrayLike<number>;
  /** Output array (same length as each input); allocated when omitted. */
  out?: Float32Array;
}

export interface ImageShape {
  channels: number;
  height: number;
  width: number;
  /** Default 'nchw' (channel-major per image). */
  layout?: Layout;
}

export interface ConcatOptions {
  /** Tile grid [rows, cols]; default rows = floor(sqrt(k)), cols = ceil(k / rows). */
  grid?: [rows: number, cols: number];
  out?: Float32Array;
}

export interface DecodeOptions {
  /** r x k coefficient matrix used to encode the r parity outputs; default one row of ones. */
  coefficients?: readonly (readonly number[])[];
  /** Output arrays, one per missing data output (increasing index order); allocated when omitted. */
  outs?: readonly Float32Array[];
}

export interface Capabilities {
  /** The ISA in use: 'ref', 'avx2' or 'avx512'. */
  isa: string;
  isaAvailable: string[];
  threads: number;
  cuda: { compiled: boolean; available: boolean; devices: number; reason: string; deviceName: string };
}

export type IsaName = 'auto' | 'ref' | 'avx2' | 'avx512';

function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'PARM_ERR_CODEC_ARGUMENT' });
}
function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'PARM_ERR_CODEC_ARGUMENT' });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}

/** Length of the first array of a non-empty list of Float32Array (k = 0 is a RangeError). */
function firstLength(list: unknown, label: string): number {
  if (!Array.isArray(list)) throw typeError(`${label} must be an array of Float32Array (got ${describe(list)})`);
  if (list.length === 0) throw rangeError(`${label} must hold at least one array (k = 0)`);
  const first: unknown = list[0];
  if (!(first instanceof Float32Array)) throw typeError(`${label}[0] must be a Float32Array (got ${describe(first)})`);
  return first.length;
}

function toF32(values: ArrayLike<number>, name: string, expected: number, expectedText: string): Float32Array {
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw typeError(`${name} must be an array of numbers (got ${describe(values)})`);
  }
  if (values.length !== expected) throw rangeError(`${name} has length ${values.length}, expected ${expectedText}`);
  const f = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw rangeError(`${name}[${i}] must be a finite number (got ${String(v)})`);
    f[i] = v;
  }
  return f;
}

function weightsOf(opts: SumOptions | undefined, k: number): Float32Array | null {
  return opts?.weights === undefined ? null : toF32(opts.weights, 'weights', k, `k = ${k}`);
}

function outFor(out: Float32Array | undefined, n: number): Float32Array {
  return out ?? new Float32Array(n);
}

/** P = sum_i w_i X_i element-wise (Contract 2). Synchronous: use for small inputs. */
export function encodeSum(inputs: readonly Float32Array[], opts?: SumOptions): Float32Array {
  const n = firstLength(inputs, 'inputs');
  const out = outFor(opts?.out, n);
  native().encodeSum(inputs, weightsOf(opts, inputs.length), out);
  return out;
}

/** encodeSum off the event loop (libuv pool, split across the addon's threads when large). */
export async function encodeSumAsync(inputs: readonly Float32Array[], opts?: SumOptions): Promise<Float32Array> {
  const n = firstLength(inputs, 'inputs');
  const out = outFor(opts?.out, n);
  await native().encodeSumAsync(inputs, weightsOf(opts, inputs.length), out);
  return out;
}

function checkBatched(batches: readonly Float32Array[], batch: number): number {
  const n = firstLength(batches, 'batches');
  if (typeof batch !== 'number') throw typeError(`batch must be a number (got ${describe(batch)})`);
  if (!Number.isInteger(batch) || batch < 1) throw rangeError(`batch must be a positive integer (got ${batch})`);
  if (n % batch !== 0) throw rangeError(`batches[0] has length ${n}, not a multiple of batch = ${batch}`);
  return n;
}

/**
 * k batches of B queries each (B*E floats, query-major) -> B parity queries (B*E floats);
 * parity i encodes query i of every batch. With query-major batches this is the element-wise
 * sum of the k batch arrays, so nothing is concatenated or copied.
 */
export function encodeSumBatched(batches: readonly Float32Array[], batch: number, opts?: SumOptions): Float32Array {
  const n = checkBatched(batches, batch);
  const out = outFor(opts?.out, n);
  native().encodeSum(batches, weightsOf(opts, batches.length), out, 'batches');
  return out;
}

export async function encodeSumBatchedAsync(batches: readonly Float32Array[], batch: number, opts?: SumOptions): Promise<Float32Array> {
  const n = checkBatched(batches, batch);
  const out = outFor(opts?.out, n);
  await native().encodeSumAsync(batches, weightsOf(opts, batches.length), out, 'batches');
  return out;
}

interface ConcatPlan { c: number; h: number; w: number; layout: Layout; rows: number; cols: number; n: number }

function planConcat(images: readonly Float32Array[], shape: ImageShape, opts: ConcatOptions | undefined): ConcatPlan {
  firstLength(images, 'images');
  if (shape === null || typeof shape !== 'object') throw typeError(`shape must be { channels, height, width } (got ${describe(shape)})`);
  const dims = (['channels', 'height', 'width'] as const).map((key) => {
    const v = shape[key];
    if (typeof v !== 'number') throw typeError(`shape.${key} must be a number (got ${describe(v)})`);
    if (!Number.isInteger(v) || v < 1) throw rangeError(`shape.${key} must be a positive integer (got ${v})`);
    return v;
  });
  const [c, h, w] = dims as [number, number, number];
  const layout = shape.layout ?? 'nchw';
  if (layout !== 'nchw' && layout !== 'nhwc') throw typeError(`shape.layout must be 'nchw' or 'nhwc' (got ${String(layout)})`);
  let rows = 0, cols = 0;
  if (opts?.grid !== undefined) {
    if (!Array.isArray(opts.grid) || opts.grid.length !== 2) throw typeError('grid must be [rows, cols]');
    [rows, cols] = opts.grid;
    if (!Number.isInteger(rows) || rows < 1) throw rangeError(`grid[0] (rows) must be a positive integer (got ${rows})`);
    if (!Number.isInteger(cols) || cols < 1) throw rangeError(`grid[1] (cols) must be a positive integer (got ${cols})`);
  }
  return { c, h, w, layout, rows, cols, n: c * h * w };
}

/** k images (C x H x W each) area-downsampled and tiled into one image of the same shape. */
export function encodeConcat(images: readonly Float32Array[], shape: ImageShape, opts?: ConcatOptions): Float32Array {
  const p = planConcat(images, shape, opts);
  const out = outFor(opts?.out, p.n);
  native().encodeConcat(images, p.c, p.h, p.w, p.layout, p.rows, p.cols, out);
  return out;
}

export async function encodeConcatAsync(images: readonly Float32Array[], shape: ImageShape, opts?: ConcatOptions): Promise<Float32Array> {
  const p = planConcat(images, shape, opts);
  const out = outFor(opts?.out, p.n);
  await native().encodeConcatAsync(images, p.c, p.h, p.w, p.layout, p.rows, p.cols, out);
  return out;
}

/** The default concatenation grid for k images: [floor(sqrt(k)), ceil(k / rows)]. */
export function defaultGrid(k: number): [rows: number, cols: number] {
  let rows = Math.floor(Math.sqrt(k));
  while (rows * rows > k) rows--;
  while ((rows + 1) * (rows + 1) <= k) rows++;
  return [rows, Math.ceil(k / rows)];
}

interface DecodePlan { coeff: Float32Array | null; outs: Float32Array[] }

function planDecode(parityOutputs: readonly Float32Array[], dataOutputs: readonly (Float32Array | null)[],
                    opts: DecodeOptions | undefined): DecodePlan {
  const n = firstLength(parityOutputs, 'parityOutputs');
  if (!Array.isArray(dataOutputs)) throw typeError(`dataOutputs must be an array (got ${describe(dataOutputs)})`);
  const k = dataOutputs.length;
  if (k === 0) throw rangeError('dataOutputs must hold at least one entry (k = 0)');
  const r = parityOutputs.length;
  let coeff: Float32Array | null = null;
  if (opts?.coefficients !== undefined) {
    const m = opts.coefficients;
    if (!Array.isArray(m)) throw typeError(`coefficients must be an r x k array of arrays (got ${describe(m)})`);
    if (m.length !== r) throw rangeError(`coefficients has ${m.length} rows, expected r = ${r} (one per parity output)`);
    coeff = new Float32Array(r * k);
    m.forEach((row, i) => coeff!.set(toF32(row, `coefficients[${i}]`, k, `k = ${k}`), i * k));
  } else if (r !== 1) {
    throw rangeError(`coefficients are required with ${r} parity outputs`);
  }
  const missing = dataOutputs.filter((d) => d === null).length;
  if (opts?.outs !== undefined) {
    if (!Array.isArray(opts.outs)) throw typeError(`outs must be an array of Float32Array (got ${describe(opts.outs)})`);
    return { coeff, outs: [...opts.outs] };  // the addon checks count, dtype and lengths
  }
  const outs = Array.from({ length: missing }, () => new Float32Array(n));
  return { coeff, outs };
}

/**
 * Reconstructs the missing (null) data outputs from r parity outputs and the present data
 * outputs; returns them in increasing index order. Singular choices throw
 * ParmError(PARM_ERR_CODEC_SINGULAR).
 */
export function decode(parityOutputs: readonly Float32Array[], dataOutputs: readonly (Float32Array | null)[],
                       opts?: DecodeOptions): Float32Array[] {
  const p = planDecode(parityOutputs, dataOutputs, opts);
  native().decode(parityOutputs, dataOutputs, p.coeff, p.outs);
  return p.outs;
}

export async function decodeAsync(parityOutputs: readonly Float32Array[], dataOutputs: readonly (Float32Array | null)[],
                                  opts?: DecodeOptions): Promise<Float32Array[]> {
  const p = planDecode(parityOutputs, dataOutputs, opts);
  await native().decodeAsync(parityOutputs, dataOutputs, p.coeff, p.outs);
  return p.outs;
}

/** What this addon can do here: the active ISA, the ones available, threads, CUDA state. */
export function capabilities(): Capabilities {
  const c: NativeCapabilities = native().capabilities();
  return { isa: c.isa, isaAvailable: c.isaAvailable, threads: c.threads, cuda: { ...c.cuda } };
}

/** Forces an ISA for the whole process ('auto' = best available); returns the active one. */
export function setIsa(name: IsaName): string {
  return native().setIsa(name);
}

/** Threads (caller included) used to split large tensors. */
export function setThreads(n: number): void {
  native().setThreads(n);
}

/** dst = src by the addon's copy kernel: the benchmark's same-run bandwidth yardstick. */
export function copy(src: Float32Array, dst: Float32Array): void {
  native().copy(src, dst);
}

/**
 * Index of the first NaN or +-Infinity element of x, or -1 when every element is finite.
 * Used to validate inputs (src/engine/input.ts). A wrong dtype or a detached buffer is a TypeError.
 */
export function firstNonFinite(x: Float32Array): number {
  return native().firstNonFinite(x);
}

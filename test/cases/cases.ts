// Loader and helpers for the one kernel case table (codec-cases.json), shared by test/native,
// test/gpu and bench/codec.bench.ts; native/test reads the same JSON from C++.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SumCase { n: number; k: number; weights: string; offset: number }
export interface BatchedCase { batch: number; elements: number; k: number; weights: string; offset: number }
export interface ConcatCase {
  channels: number; height: number; width: number; k: number; layout: 'nchw' | 'nhwc';
  grid: [number, number] | null; offset: number;
}
export interface DecodeCase { n: number; k: number; r: number; missing: number[]; coefficients: string; offset: number }
export interface ErrorCase { op: string; what: string; expect?: string; [key: string]: unknown }
export interface BenchSize { name: string; shape: number[]; batch: number }

export interface CaseTable {
  tolerance: { vs_reference: string; reconstruction_rel: number };
  coefficient_sets: Record<string, number[][] | null>;
  encode_sum: SumCase[];
  encode_sum_batched: BatchedCase[];
  encode_concat: ConcatCase[];
  decode: DecodeCase[];
  errors: ErrorCase[];
  bench: { sizes: BenchSize[]; k: number[]; ops: string[] };
}

/** The JSON next to this file, or (when compiled into dist/) the one in the source tree. */
export const caseTablePath: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const p of [join(dir, 'codec-cases.json'), join(dir, 'test', 'cases', 'codec-cases.json')]) if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) throw new Error('codec-cases.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
})();

export function loadCases(): CaseTable {
  return JSON.parse(readFileSync(caseTablePath, 'utf8')) as CaseTable;
}

/** Rows [0, r) and columns [0, k) of a coefficient set; null for 'ones'. */
export function coefficients(table: CaseTable, set: string, r: number, k: number): number[][] | null {
  const rows = table.coefficient_sets[set];
  if (rows === undefined) throw new Error(`unknown coefficient set ${set}`);
  if (rows === null) return null;
  return rows.slice(0, r).map((row) => row.slice(0, k));
}

/** Seeded generator of floats in [-4, 4) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 8 - 4;
  };
}

/** n random floats as a view starting `offset` floats into a larger buffer (unaligned). */
export function randomView(n: number, offset: number, next: () => number): Float32Array {
  const v = new Float32Array(n + offset + 1).subarray(offset, offset + n);
  for (let i = 0; i < n; i++) v[i] = next();
  return v;
}

/** An output view poisoned with NaN, with a NaN guard element after it. */
export function poisonedView(n: number, offset: number): { view: Float32Array; guard: Float32Array } {
  const whole = new Float32Array(n + offset + 1).fill(Number.NaN);
  return { view: whole.subarray(offset, offset + n), guard: whole.subarray(offset + n) };
}

/** Index of the first element whose bits differ, or -1. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

// --- Oracles written from Contract 2 in float32 (Math.fround after every operation). ---------

const f = Math.fround;

export function oracleSum(inputs: readonly Float32Array[], weights: readonly number[] | null): Float32Array {
  const n = inputs[0]!.length;
  const w = weights ? weights.map(f) : null;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let acc = w ? f(w[0]! * inputs[0]![e]!) : inputs[0]![e]!;
    for (let i = 1; i < inputs.length; i++) acc = f(acc + (w ? f(w[i]! * inputs[i]![e]!) : inputs[i]![e]!));
    out[e] = acc;
  }
  return out;
}

export function defaultGridOf(k: number): [number, number] {
  let rows = Math.floor(Math.sqrt(k));
  while (rows * rows > k) rows--;
  while ((rows + 1) * (rows + 1) <= k) rows++;
  return [rows, Math.ceil(k / rows)];
}

export function oracleConcat(images: readonly Float32Array[], c: ConcatCase): Float32Array {
  const { channels: C, height: H, width: W } = c;
  const [R, G] = c.grid ?? defaultGridOf(images.length);
  const nhwc = c.layout === 'nhwc';
  const at = (ch: number, y: number, x: number) => (nhwc ? (y * W + x) * C + ch : (ch * H + y) * W + x);
  const ov = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
  const out = new Float32Array(C * H * W);
  for (let t = 0; t < R * G; t++) {
    const r = Math.floor(t / G), col = t % G;
    const y0 = Math.floor((r * H) / R), y1 = Math.floor(((r + 1) * H) / R);
    const x0 = Math.floor((col * W) / G), x1 = Math.floor(((col + 1) * W) / G);
    const th = y1 - y0, tw = x1 - x0;
    for (let ch = 0; ch < C; ch++)
      for (let oy = 0; oy < th; oy++)
        for (let ox = 0; ox < tw; ox++) {
          if (t >= images.length) { out[at(ch, y0 + oy, x0 + ox)] = 0; continue; }
          let acc = 0;
          for (let y = 0; y < H; y++) {
            const ovy = ov(oy * H, (oy + 1) * H, y * th, (y + 1) * th);
            if (!ovy) continue;
            for (let x = 0; x < W; x++) {
              const ovx = ov(ox * W, (ox + 1) * W, x * tw, (x + 1) * tw);
              if (!ovx) continue;
              acc = f(acc + f(images[t]![at(ch, y, x)]! * f(ovy * ovx)));
            }
          }
          out[at(ch, y0 + oy, x0 + ox)] = f(acc / f(H * W));
        }
  }
  return out;
}

/** Contract 2 single-erasure decode with parity row `w`. */
export function oracleDecodeOne(p: Float32Array, data: readonly (Float32Array | null)[], w: readonly number[] | null,
                                missing: number): Float32Array {
  const wf = (j: number) => (w ? f(w[j]!) : 1);
  const out = new Float32Array(p.length);
  for (let e = 0; e < p.length; e++) {
    let acc = p[e]!;
    for (let j = 0; j < data.length; j++) if (j !== missing) acc = f(acc - f(wf(j) * data[j]![e]!));
    out[e] = f(acc / wf(missing));
  }
  return out;
}

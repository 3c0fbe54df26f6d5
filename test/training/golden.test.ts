// Contract 2: the trainer's Python encoders (training/encoders.py) and the native addon agree bit
// for bit. The fixtures come from `python3 -m training golden --out test/fixtures/golden`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import * as codec from '../../src/codec/index.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'golden');

interface Case {
  name: string;
  op: 'sum' | 'concat' | 'decode';
  k: number;
  elements?: number;
  weights?: number[] | null;
  channels?: number;
  height?: number;
  width?: number;
  layout?: 'nchw' | 'nhwc';
  grid?: [number, number];
  missing?: number;
  inputs: string;
  output: string;
  parity?: string;
}

function f32(file: string): Float32Array {
  const b = readFileSync(join(DIR, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function members(all: Float32Array, k: number): Float32Array[] {
  const n = all.length / k;
  return Array.from({ length: k }, (_, i) => all.subarray(i * n, (i + 1) * n));
}

/** Index of the first element whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (ua.length !== ub.length) return Math.min(ua.length, ub.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

const index = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8')) as { cases: Case[] };

t.ok(index.cases.length >= 20, 'the fixture set holds the sum, concat and decode cases');
for (const ops of ['sum', 'concat', 'decode'] as const) {
  t.ok(index.cases.some((c) => c.op === ops), `fixtures include ${ops} cases`);
}

// Every kernel the addon can pick here (scalar reference and SIMD) must match the trainer.
const isas = codec.capabilities().isaAvailable;
t.ok(isas.includes('ref'), 'the scalar reference kernel is available');
t.teardown(() => { codec.setIsa('auto'); });

for (const isa of isas) for (const c of index.cases) {
  t.test(`${c.name} [${isa}]`, async (t) => {
    t.equal(codec.setIsa(isa as codec.IsaName), isa, `addon runs the ${isa} kernels`);
    const want = f32(c.output);
    const inputs = members(f32(c.inputs), c.k);
    let got: Float32Array;
    if (c.op === 'sum') {
      const out = new Float32Array(want.length).fill(Number.NaN); // poisoned
      got = codec.encodeSum(inputs, c.weights ? { weights: c.weights, out } : { out });
    } else if (c.op === 'concat') {
      const out = new Float32Array(want.length).fill(Number.NaN);
      t.same(codec.defaultGrid(c.k), c.grid, 'default grid agrees');
      got = codec.encodeConcat(inputs, { channels: c.channels!, height: c.height!, width: c.width!, layout: c.layout }, { out });
    } else {
      const data = inputs.map((x, j) => (j === c.missing ? null : x));
      const opts = c.weights ? { coefficients: [c.weights] } : undefined;
      [got] = codec.decode([f32(c.parity!)], data, opts) as [Float32Array];
    }
    t.equal(got.length, want.length, 'output length');
    const at = firstBitDifference(got, want);
    t.equal(at, -1, at < 0 ? 'bit-identical to the Python trainer' : `first difference at element ${at}: addon ${got[at]} vs python ${want[at]}`);
  });
}

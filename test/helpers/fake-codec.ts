// A plain TypeScript stand-in for the native codec (the EngineCodec interface), for the unit tier:
// the same contract (float32 rounding after each operation, the decoder's choice of the first
// solvable parity rows), no addon.
import type { EngineCodec } from '../../src/engine/engine-codec.js';

const f = Math.fround;

/** Solves the m x m system a x = b (row-major doubles) in place; false when singular. */
function solve(a: number[][], b: number[][]): boolean {
  const m = a.length;
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (Math.abs(a[p]![c]!) < 1e-9) return false;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const k = a[r]![c]! / a[c]![c]!;
      for (let j = 0; j < m; j++) a[r]![j]! -= k * a[c]![j]!;
      b[r] = b[r]!.map((v, i) => v - k * b[c]![i]!);
    }
  }
  for (let r = 0; r < m; r++) b[r] = b[r]!.map((v) => v / a[r]![r]!);
  return true;
}

function* subsets(n: number, size: number, from = 0): Generator<number[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= n - size; i++) for (const rest of subsets(n, size - 1, i + 1)) yield [i, ...rest];
}

export interface FakeCodec extends EngineCodec {
  calls: { encodeSum: number; encodeConcat: number; decode: number };
}

export function fakeCodec(): FakeCodec {
  const calls = { encodeSum: 0, encodeConcat: 0, decode: 0 };
  return {
    calls,
    encodeSum(inputs, weights, out) {
      calls.encodeSum++;
      out.fill(0);
      inputs.forEach((x, i) => {
        for (let j = 0; j < out.length; j++) out[j] = f(out[j]! + f(x[j]! * f(weights[i]!)));
      });
    },
    encodeConcat(images, size, out) {
      calls.encodeConcat++;
      // Not the real tiling: a sum stands in (the unit tier checks coding state, not pixels).
      this.encodeSum(images, images.map(() => 1), out);
      void size;
    },
    decode(parity, data, coefficients) {
      calls.decode++;
      const missing = data.flatMap((d, i) => (d === null ? [i] : []));
      const n = parity[0]!.length;
      for (const rows of subsets(parity.length, missing.length)) {
        // Right-hand side: p_r - sum_{present j} w_rj F_j, per row.
        const a = rows.map((r) => missing.map((i) => coefficients[r]![i]!));
        const b = rows.map((r) => {
          const rhs = Array.from(parity[r]!);
          data.forEach((d, j) => {
            if (d) for (let e = 0; e < n; e++) rhs[e]! -= coefficients[r]![j]! * d[e]!;
          });
          return rhs;
        });
        if (solve(a, b)) return b.map((v) => Float32Array.from(v));
      }
      return null;
    },
    firstNonFinite(x) {
      for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return i;
      return -1;
    },
  };
}

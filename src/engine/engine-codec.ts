// The coding arithmetic the engine calls, as an interface: the native addon in production (this
// file's nativeCodec), a plain TypeScript stand-in in the unit tests (test/helpers/fake-codec.ts).
import * as codec from '../codec/index.js';
import { ParmError } from '../errors.js';

export interface ImageSize {
  channels: number;
  height: number;
  width: number;
}

export interface EngineCodec {
  /** out = sum_i weights[i] * inputs[i], element-wise (also position-wise over whole batches). */
  encodeSum(inputs: readonly Float32Array[], weights: readonly number[], out: Float32Array): void;
  /** The k images downsampled and tiled into one image of the same size (weights are all ones). */
  encodeConcat(images: readonly Float32Array[], size: ImageSize, out: Float32Array): void;
  /**
   * The missing (null) data outputs, in index order, from parity outputs encoded with the given
   * coefficient rows (the decoder picks a solvable subset of the rows); null when none is solvable.
   */
  decode(parity: readonly Float32Array[], data: readonly (Float32Array | null)[], coefficients: readonly (readonly number[])[]): Float32Array[] | null;
  /** Index of the first NaN or +-Inf of x, or -1. */
  firstNonFinite(x: Float32Array): number;
}

export const nativeCodec: EngineCodec = {
  encodeSum: (inputs, weights, out) => {
    codec.encodeSum(inputs, { weights, out });
  },
  encodeConcat: (images, size, out) => {
    codec.encodeConcat(images, size, { out });
  },
  decode: (parity, data, coefficients) => {
    try {
      return codec.decode(parity, data, { coefficients });
    } catch (e) {
      if (e instanceof ParmError && e.code === 'PARM_ERR_CODEC_SINGULAR') return null;
      throw e;
    }
  },
  firstNonFinite: (x) => codec.firstNonFinite(x),
};

// Device-buffer API: data that stays on the GPU between encode/decode steps. Needs the CUDA build
// (npm run build:cuda, PARM_ADDON=build-cuda/Release/parm.node) and a device; otherwise the
// DeviceBuffer constructor throws ParmError PARM_ERR_CODEC_UNSUPPORTED / _NO_DEVICE.
import type { Layout, NativeDeviceBuffer } from '../addon/binding.js';
import { addon as native } from '../addon/load.js';

/**
 * Device memory for `length` float32 values with pinned host staging. Owns the memory: call
 * dispose() when done (a finalizer frees it otherwise, at an unpredictable time).
 */
export class DeviceBuffer {
  /** @internal */ readonly native: NativeDeviceBuffer;

  constructor(length: number) {
    this.native = new (native().DeviceBuffer)(length);
  }

  /** A buffer holding a copy of `data`. */
  static from(data: Float32Array): DeviceBuffer {
    const b = new DeviceBuffer(data.length);
    b.upload(data);
    return b;
  }

  get length(): number { return this.native.length; }
  get disposed(): boolean { return this.native.disposed; }
  upload(src: Float32Array, offset = 0): void { this.native.upload(src, offset); }
  download(dst?: Float32Array, offset = 0): Float32Array {
    const out = dst ?? new Float32Array(this.length - offset);
    this.native.download(out, offset);
    return out;
  }
  dispose(): void { this.native.dispose(); }
}

function raw(list: readonly (DeviceBuffer | null)[]): (NativeDeviceBuffer | null)[] {
  return list.map((b) => (b === null ? null : b.native));
}

/** out = sum_i w_i inputs[i] on the device (same arithmetic as encodeSum). */
export async function encodeSumDevice(inputs: readonly DeviceBuffer[], out: DeviceBuffer,
                                      opts?: { weights?: ArrayLike<number> }): Promise<void> {
  const w = opts?.weights === undefined ? null : Float32Array.from(opts.weights);
  await native().cudaEncodeSum(raw(inputs) as NativeDeviceBuffer[], w, out.native);
}

export async function encodeConcatDevice(images: readonly DeviceBuffer[],
                                         shape: { channels: number; height: number; width: number; layout?: Layout },
                                         out: DeviceBuffer, opts?: { grid?: [number, number] }): Promise<void> {
  const [rows, cols] = opts?.grid ?? [0, 0];
  await native().cudaEncodeConcat(raw(images) as NativeDeviceBuffer[], shape.channels, shape.height, shape.width,
    shape.layout ?? 'nchw', rows, cols, out.native);
}

/** dst = src on the device (device-to-device copy). */
export async function copyDevice(src: DeviceBuffer, dst: DeviceBuffer): Promise<void> {
  await native().cudaCopy(src.native, dst.native);
}

/** Reconstructs the missing data outputs into `outs` (one per null, increasing index order). */
export async function decodeDevice(parityOutputs: readonly DeviceBuffer[], dataOutputs: readonly (DeviceBuffer | null)[],
                                   outs: readonly DeviceBuffer[],
                                   opts?: { coefficients?: readonly (readonly number[])[] }): Promise<void> {
  const c = opts?.coefficients === undefined ? null : Float32Array.from(opts.coefficients.flat());
  await native().cudaDecode(raw(parityOutputs) as NativeDeviceBuffer[], raw(dataOutputs), c,
    raw(outs) as NativeDeviceBuffer[]);
}

// The one hand-written type of the native addon's surface; it mirrors the export list at the top
// of bindings/addon.cc. Only src/codec/ and src/addon/ use it directly.

/** Thrown for every core status (registered through init()). */
export type ErrorClass = new (code: never, message: string) => Error;

export interface CudaInfo {
  /** This addon was built with -DPARM_CUDA=ON. */
  compiled: boolean;
  /** A CUDA device can be used now. */
  available: boolean;
  devices: number;
  /** Why CUDA is not available ('' when it is). */
  reason: string;
  deviceName: string;
}

export interface NativeCapabilities {
  isa: 'ref' | 'avx2' | 'avx512';
  isaAvailable: string[];
  threads: number;
  cuda: CudaInfo;
}

/** Device memory for `length` floats plus pinned host staging. Free with dispose(). */
export interface NativeDeviceBuffer {
  readonly length: number;
  readonly disposed: boolean;
  /** Copies src into the buffer from element `offset` (sync, through pinned staging). */
  upload(src: Float32Array, offset?: number): void;
  /** Copies the buffer from element `offset` into dst (sync). */
  download(dst: Float32Array, offset?: number): void;
  /** Frees the device memory now; idempotent. Throws while an async op uses the buffer. */
  dispose(): void;
}

export type Layout = 'nchw' | 'nhwc';

export interface NativeBinding {
  readonly version: string;
  init(errors: { ParmError: ErrorClass }): void;
  capabilities(): NativeCapabilities;
  /** Forces an ISA ('auto' = best available); returns the active one. */
  setIsa(name: 'auto' | 'ref' | 'avx2' | 'avx512'): string;
  /** Threads used to split large tensors, caller included (1..1024). */
  setThreads(n: number): void;

  /** out = sum_i weights[i] * inputs[i] (Contract 2). label names `inputs` in error messages. */
  encodeSum(inputs: readonly Float32Array[], weights: Float32Array | null, out: Float32Array, label?: string): void;
  encodeSumAsync(inputs: readonly Float32Array[], weights: Float32Array | null, out: Float32Array, label?: string): Promise<void>;
  /** rows = cols = 0 picks the default grid. */
  encodeConcat(images: readonly Float32Array[], channels: number, height: number, width: number, layout: Layout,
               rows: number, cols: number, out: Float32Array): void;
  encodeConcatAsync(images: readonly Float32Array[], channels: number, height: number, width: number, layout: Layout,
                    rows: number, cols: number, out: Float32Array): Promise<void>;
  /** coefficients: r x k row-major, or null for r = 1 and all ones; outs: one per null in data. */
  decode(parity: readonly Float32Array[], data: readonly (Float32Array | null)[], coefficients: Float32Array | null,
         outs: readonly Float32Array[]): void;
  decodeAsync(parity: readonly Float32Array[], data: readonly (Float32Array | null)[], coefficients: Float32Array | null,
              outs: readonly Float32Array[]): Promise<void>;
  /** dst = src (the benchmark's bandwidth yardstick). */
  copy(src: Float32Array, dst: Float32Array): void;
  /** Index of the first NaN or +-Inf element of x, or -1 (input validation scan). */
  firstNonFinite(x: Float32Array): number;

  DeviceBuffer: new (length: number) => NativeDeviceBuffer;
  // The cuda* calls check their arguments synchronously (TypeError / RangeError naming the field;
  // an output buffer that is also an input or another output is a RangeError), then reject with
  // a ParmError PARM_ERR_CODEC_UNSUPPORTED / _NO_DEVICE / _OUT_OF_MEMORY / _CUDA.
  cudaEncodeSum(inputs: readonly NativeDeviceBuffer[], weights: Float32Array | null, out: NativeDeviceBuffer): Promise<void>;
  cudaEncodeConcat(images: readonly NativeDeviceBuffer[], channels: number, height: number, width: number,
                   layout: Layout, rows: number, cols: number, out: NativeDeviceBuffer): Promise<void>;
  /** dst = src on the device (the GPU benchmark's yardstick). */
  cudaCopy(src: NativeDeviceBuffer, dst: NativeDeviceBuffer): Promise<void>;
  cudaDecode(parity: readonly NativeDeviceBuffer[], data: readonly (NativeDeviceBuffer | null)[],
             coefficients: Float32Array | null, outs: readonly NativeDeviceBuffer[]): Promise<void>;
}

// The one dataset reader on the TypeScript side (`parm eval`, the tail benchmark), for the two
// layouts the trainer reads (training/data.py): IDX files (MNIST / Fashion-MNIST format, optionally
// gzipped; images scaled pixel / 255, Contract 3) or .npy files (train-inputs.npy,
// train-labels.npy, test-inputs.npy, test-labels.npy), and the one default dataset path.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ParmError } from './errors.js';

export const DEFAULT_DATASET_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

export interface EvalDataset {
  name: string;
  path: string;
  layout: 'idx' | 'npy';
  /** Shape of one input, e.g. [1, 28, 28]. */
  inputShape: number[];
  /** Test inputs, row-major, `testLabels.length * prod(inputShape)` floats. */
  testInputs: Float32Array;
  testLabels: Int32Array;
  /** Training labels (for the majority-class floor); inputs are not loaded. */
  trainLabels: Int32Array;
  classes: string[];
}

function fail(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

function readMaybeGz(dir: string, stem: string): Buffer | undefined {
  for (const name of [stem, `${stem}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) {
      const raw = readFileSync(p);
      try {
        return name.endsWith('.gz') ? gunzipSync(raw) : raw;
      } catch (err) {
        fail(`cannot decompress ${p}: ${(err as Error).message}`);
      }
    }
  }
  return undefined;
}

/** Parses one IDX file: returns its dimensions and its body as numbers (uint8 only, as MNIST). */
export function parseIdx(buf: Buffer, what: string): { dims: number[]; data: Uint8Array } {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) fail(`${what} is not an IDX file (bad magic number)`);
  if (buf[2] !== 0x08) fail(`${what}: only unsigned-byte IDX files are supported (type 0x${buf[2]!.toString(16)})`);
  const ndim = buf[3]!;
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (buf.length - start < count) fail(`${what}: IDX body has ${buf.length - start} bytes, header promises ${count}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, count) };
}

/** Parses a little-endian, C-order .npy (v1-v3) of float32 or integer type. */
export function parseNpy(buf: Buffer, what: string): { shape: number[]; data: Float32Array | Int32Array } {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') fail(`${what} is not a .npy file`);
  const major = buf[6]!;
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) fail(`${what}: unreadable .npy header`);
  if (fortran) fail(`${what}: Fortran-order arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(hstart + hlen);
  const copy = (bytes: number) => {
    if (body.length < count * bytes) fail(`${what}: .npy body is shorter than its shape ${JSON.stringify(shape)}`);
    return Uint8Array.prototype.slice.call(body, 0, count * bytes).buffer as ArrayBuffer;
  };
  switch (descr) {
    case '<f4': return { shape, data: new Float32Array(copy(4)) };
    case '|u1': return { shape, data: Int32Array.from(new Uint8Array(copy(1))) };
    case '<i4': return { shape, data: new Int32Array(copy(4)) };
    case '<i8': return { shape, data: Int32Array.from(new BigInt64Array(copy(8)), (v) => Number(v)) };
    default: fail(`${what}: dtype ${descr} is not supported (inputs float32 '<f4', labels integer)`);
  }
}

export function loadEvalDataset(dir: string = DEFAULT_DATASET_DIR): EvalDataset {
  const path = resolve(dir);
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    fail(`dataset directory ${path} does not exist; pass --dataset DIR with IDX or .npy files ` +
      `(Fashion-MNIST: apt-get install dataset-fashion-mnist, then ${DEFAULT_DATASET_DIR})`);
  }
  const name = basename(path);
  const testImg = readMaybeGz(path, 't10k-images-idx3-ubyte');
  const testLab = readMaybeGz(path, 't10k-labels-idx1-ubyte');
  const trainLab = readMaybeGz(path, 'train-labels-idx1-ubyte');
  let ds: EvalDataset;
  if (testImg && testLab && trainLab) {
    const img = parseIdx(testImg, `${path}/t10k-images-idx3-ubyte`);
    const lab = parseIdx(testLab, `${path}/t10k-labels-idx1-ubyte`);
    const trl = parseIdx(trainLab, `${path}/train-labels-idx1-ubyte`);
    if (img.dims.length !== 3) fail(`${path}: expected 3-d IDX test images [N, H, W], got ${img.dims.length} dimensions`);
    if (lab.dims[0] !== img.dims[0]) fail(`${path}: ${lab.dims[0]} test labels for ${img.dims[0]} images`);
    const inputs = new Float32Array(img.data.length);
    for (let i = 0; i < inputs.length; i++) inputs[i] = img.data[i]! / 255;
    ds = {
      name, path, layout: 'idx', inputShape: [1, img.dims[1]!, img.dims[2]!], testInputs: inputs,
      testLabels: Int32Array.from(lab.data), trainLabels: Int32Array.from(trl.data), classes: [],
    };
  } else if (['test-inputs.npy', 'test-labels.npy', 'train-labels.npy'].every((f) => existsSync(join(path, f)))) {
    const x = parseNpy(readFileSync(join(path, 'test-inputs.npy')), `${path}/test-inputs.npy`);
    const y = parseNpy(readFileSync(join(path, 'test-labels.npy')), `${path}/test-labels.npy`);
    const t = parseNpy(readFileSync(join(path, 'train-labels.npy')), `${path}/train-labels.npy`);
    if (!(x.data instanceof Float32Array)) fail(`${path}/test-inputs.npy: inputs must be float32`);
    if (!(y.data instanceof Int32Array) || !(t.data instanceof Int32Array)) fail(`${path}: labels must be integers`);
    if (y.shape.length !== 1 || y.shape[0] !== x.shape[0]) fail(`${path}: ${y.shape[0]} test labels for ${x.shape[0]} inputs`);
    ds = {
      name, path, layout: 'npy', inputShape: x.shape.slice(1), testInputs: x.data, testLabels: y.data,
      trainLabels: t.data, classes: [],
    };
  } else {
    fail(`${path} holds no dataset: expected t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] and ` +
      `train-labels-idx1-ubyte[.gz], or test-inputs.npy, test-labels.npy and train-labels.npy`);
  }
  let nClasses = 0;
  for (const l of ds.testLabels) nClasses = Math.max(nClasses, l + 1);
  for (const l of ds.trainLabels) nClasses = Math.max(nClasses, l + 1);
  const classesFile = join(path, 'classes.json');
  if (existsSync(classesFile)) ds.classes = (JSON.parse(readFileSync(classesFile, 'utf8')) as unknown[]).map(String);
  else if (/fashion/i.test(name) && nClasses === 10) ds.classes = [...FASHION_MNIST_CLASSES];
  else ds.classes = Array.from({ length: nClasses }, (_, i) => String(i));
  return ds;
}

/** Test images as the tail benchmark sends them: an IDX image set's test split. */
export interface LabelledImages {
  /** count * height * width float32 pixels in [0, 1], image-major. */
  images: Float32Array;
  /** count class labels. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

/** The test split of an IDX image dataset (default Fashion-MNIST); `limit` keeps only the first images. */
export function loadFashionMnistTest(dir: string = DEFAULT_DATASET_DIR, limit = Infinity): LabelledImages {
  const ds = loadEvalDataset(dir);
  if (ds.layout !== 'idx' || ds.inputShape.length !== 3 || ds.inputShape[0] !== 1) {
    fail(`${ds.path}: the tail benchmark needs IDX images (t10k-images-idx3-ubyte[.gz])`);
  }
  const [, height, width] = ds.inputShape as [number, number, number];
  const count = Math.min(ds.testLabels.length, limit);
  return {
    images: ds.testInputs.subarray(0, count * height * width), labels: Uint8Array.from(ds.testLabels.subarray(0, count)),
    count, height, width,
  };
}

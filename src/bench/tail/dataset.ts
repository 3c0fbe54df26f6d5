// Real test-set queries for the tail benchmark: the Fashion-MNIST test split read from its IDX
// files (gzipped or not), pixels scaled to [0, 1] float32 as Contract 3 requires.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ParmError } from '../../errors.js';

export const DEFAULT_DATASET_DIR = '/usr/share/datasets/fashion-mnist';

export interface LabelledImages {
  /** count * height * width float32 pixels in [0, 1], image-major. */
  images: Float32Array;
  /** count class labels 0..9. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

function readIdx(dir: string, base: string): Buffer {
  for (const name of [base, `${base}.gz`]) {
    const path = join(dir, name);
    if (existsSync(path)) {
      const raw = readFileSync(path);
      return name.endsWith('.gz') ? gunzipSync(raw) : raw;
    }
  }
  throw new ParmError('PARM_ERR_CLI_USAGE', `dataset file ${base}[.gz] not found in ${dir}`);
}

/** Loads the test split (t10k-*) from `dir`; `limit` keeps only the first images. */
export function loadFashionMnistTest(dir = DEFAULT_DATASET_DIR, limit = Infinity): LabelledImages {
  const img = readIdx(dir, 't10k-images-idx3-ubyte');
  const lab = readIdx(dir, 't10k-labels-idx1-ubyte');
  if (img.readUInt32BE(0) !== 2051 || lab.readUInt32BE(0) !== 2049) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `${dir}: not IDX image/label files (bad magic number)`);
  }
  const total = img.readUInt32BE(4);
  const height = img.readUInt32BE(8);
  const width = img.readUInt32BE(12);
  if (lab.readUInt32BE(4) !== total) {
    throw new ParmError('PARM_ERR_CLI_USAGE', `${dir}: ${total} images but ${lab.readUInt32BE(4)} labels`);
  }
  const count = Math.min(total, limit);
  const size = height * width;
  const images = new Float32Array(count * size);
  // The only per-pixel loop in src/: a one-off dataset decode in the benchmark client, not
  // tensor work on the serving path.
  for (let i = 0; i < count * size; i++) images[i] = img[16 + i]! / 255;
  return { images, labels: Uint8Array.from(lab.subarray(8, 8 + count)), count, height, width };
}

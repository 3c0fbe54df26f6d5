// The images the dashboard's load sends: the first of the bundled test set (Fashion-MNIST), read
// in a worker thread so that its decode never stalls the server's event loop (where the engine
// reads its instances' heartbeats), or constant gray images where the test set does not fit.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newThread } from '../engine/local-instance.js';
import { DEFAULT_DATASET_DIR, loadEvalDataset } from '../dataset.js';

/** Images kept in memory for the load (the first of the test set). */
const IMAGES_KEPT = 1000;

/** `count` images of `elements` floats each. */
export interface ImageSet {
  data: Float32Array;
  count: number;
  elements: number;
  /** Where they came from, for the status line. */
  source: string;
}

/** The first images of the test set in `dir`, or undefined where it is not installed (synchronous). */
export function testSetImages(dir = DEFAULT_DATASET_DIR): ImageSet | undefined {
  let ds;
  try {
    ds = loadEvalDataset(dir);
  } catch {
    return undefined;
  }
  const elements = ds.inputShape.reduce((a, b) => a * b, 1);
  const count = Math.min(IMAGES_KEPT, ds.testLabels.length);
  return { data: ds.testInputs.slice(0, count * elements), count, elements, source: `${ds.name} test set (first ${count} images)` };
}

/** The worker entry next to this file, with this file's extension (`.ts` under tap's loader, `.js` in dist/). */
const WORKER_URL = new URL(`./images-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** testSetImages(dir), run in a worker thread; undefined when the set is missing or the worker fails. */
export function readTestImages(dir = DEFAULT_DATASET_DIR): Promise<ImageSet | undefined> {
  return new Promise((resolve) => {
    const w = newThread(WORKER_URL, { workerData: { dir } });
    w.unref();
    w.once('message', (set: ImageSet | null) => {
      resolve(set ?? undefined);
      void w.terminate();
    });
    w.once('error', () => resolve(undefined));
    w.once('exit', () => resolve(undefined));
  });
}

/** 16 images of constant gray levels: the load for a model the test set does not fit. */
export function grayImages(elements: number, why: string): ImageSet {
  const count = 16;
  const data = new Float32Array(count * elements);
  for (let i = 0; i < count; i++) data.subarray(i * elements, (i + 1) * elements).fill((i + 0.5) / count);
  return { data, count, elements, source: `${count} constant gray images (${why})` };
}

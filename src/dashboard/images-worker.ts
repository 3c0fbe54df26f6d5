// Worker thread entry of readTestImages (images.ts): reads the test images and posts them back,
// handing over their buffer rather than copying it.
import { parentPort, workerData } from 'node:worker_threads';
import { testSetImages } from './images.js';

const set = testSetImages((workerData as { dir: string }).dir);
parentPort!.postMessage(set ?? null, set ? [set.data.buffer as ArrayBuffer] : []);

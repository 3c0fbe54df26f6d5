// The dashboard load's images: the test set read in a worker thread (the same images as the
// synchronous read, the event loop free meanwhile), nothing where it is missing, gray otherwise.
import { existsSync } from 'node:fs';
import t from 'tap';
import { grayImages, readTestImages, testSetImages } from '../../src/dashboard/images.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';

t.test('the test set, read in a worker, is what the synchronous read gives', { skip: existsSync(DEFAULT_DATASET_DIR) ? false : `no dataset at ${DEFAULT_DATASET_DIR}` }, async (t) => {
  let turns = 0;
  const spin = setInterval(() => turns++, 5);
  const off = await readTestImages();
  clearInterval(spin);
  t.ok(off, 'read');
  t.equal(off!.count, 1000);
  t.equal(off!.elements, 784);
  t.equal(off!.data.length, 1000 * 784);
  t.match(off!.source, /test set \(first 1000 images\)/);
  t.ok(turns > 0, `the event loop kept turning while the worker read (${turns} timer turns)`);
  const sync = testSetImages()!;
  t.same(Array.from(off!.data.subarray(0, 2000)), Array.from(sync.data.subarray(0, 2000)), 'same pixels');
  t.same(Array.from(off!.data.subarray(-784)), Array.from(sync.data.subarray(-784)), 'same last image');
});

t.test('a missing test set reads as undefined; gray images fill the model size', async (t) => {
  t.equal(await readTestImages('/nonexistent/parm-dataset'), undefined);
  const g = grayImages(12, 'why');
  t.equal(g.count, 16);
  t.equal(g.data.length, 16 * 12);
  t.same([g.data[0], g.data[11], g.data[12], g.data[16 * 12 - 1]], [0.5 / 16, 0.5 / 16, 1.5 / 16, 15.5 / 16]);
  t.match(g.source, /16 constant gray images \(why\)/);
});

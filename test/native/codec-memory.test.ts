// 100k codec calls leave memory flat: RSS and external memory after a full GC stay within a
// bound after a warm-up phase of the same size.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import * as codec from '../../src/codec/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage();
}

t.test('100k sync calls + 10k async calls: memory stays flat', async (t) => {
  const k = 4, n = 784;
  const inputs = Array.from({ length: k }, (_, i) => new Float32Array(n).map((_, e) => Math.sin(e + i)));
  const parity = codec.encodeSum(inputs);
  const holes = inputs.map((x, j) => (j === 2 ? null : x));
  const img = Array.from({ length: 2 }, () => new Float32Array(3 * 8 * 8).fill(0.5));
  const run = (calls: number) => {
    for (let i = 0; i < calls; i++) {
      switch (i % 4) {
        case 0: codec.encodeSum(inputs); break;
        case 1: codec.decode([parity], holes); break;
        case 2: codec.encodeConcat(img, { channels: 3, height: 8, width: 8 }); break;
        default: try { codec.encodeSum([inputs[0]!, parity.subarray(1)]); } catch { /* RangeError path */ }
      }
    }
  };
  // Warm-up phase (allocator arenas, V8 heap sizing, libuv threads), then the measured phase.
  run(100_000);
  for (let i = 0; i < 10_000; i++) await codec.encodeSumAsync(inputs);
  const before = settle();
  run(100_000);
  for (let i = 0; i < 10_000; i++) await codec.encodeSumAsync(inputs);
  const after = settle();
  const rss = (after.rss - before.rss) / 2 ** 20, ext = (after.external - before.external) / 2 ** 20;
  t.comment(`rss ${(before.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB, external ${(before.external / 2 ** 20).toFixed(2)} -> ${(after.external / 2 ** 20).toFixed(2)} MiB`);
  // A leak of one 3 KiB output per call would be ~300 MiB; of one small native object, > 5 MiB.
  t.ok(ext < 1, `external memory growth ${ext.toFixed(2)} MiB < 1 MiB`);
  t.ok(rss < 16, `RSS growth ${rss.toFixed(1)} MiB < 16 MiB`);
});

// Codec calls hold nothing once they settle: every array passed to a sync, async or failing call
// and every promise of an async call is collected by a full GC (WeakRefs, exact), and many calls
// leave the memory V8 accounts for array buffers where it was. What a leaked JS array or a leaked
// reference in the glue would keep alive is counted exactly here, so the checks do not depend on
// what else runs on the machine. RSS is not asserted (allocator arenas and other processes move
// it): `npm run bench:codec-memory` prints it per round.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import * as codec from '../../src/codec/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full GC in a later macrotask (WeakRef targets stay alive until the current job ends). */
async function collect(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

function randomInputs(k: number, n: number): Float32Array[] {
  return Array.from({ length: k }, (_, i) => new Float32Array(n).map((_, e) => Math.sin(e * 0.37 + i)));
}

interface Tracked { refs: WeakRef<object>[]; names: string[] }

/** Runs every kind of codec call on fresh arrays; returns only weak references to what it used. */
async function callsOnFreshArrays(): Promise<Tracked> {
  const tracked: Tracked = { refs: [], names: [] };
  const track = <T extends object>(name: string, o: T): T => {
    tracked.refs.push(new WeakRef(o));
    tracked.names.push(name);
    return o;
  };
  const k = 4, n = 784;
  const inputs = randomInputs(k, n).map((x, i) => track(`encodeSum inputs[${i}]`, x));
  const parity = track('encodeSum out', codec.encodeSum(inputs, { weights: [1, 2, 3, 4] }));
  const asyncInputs = randomInputs(k, n).map((x, i) => track(`encodeSumAsync inputs[${i}]`, x));
  const asyncOut = track('encodeSumAsync out', new Float32Array(n));
  await track('encodeSumAsync promise', codec.encodeSumAsync(asyncInputs, { out: asyncOut }));
  const holes = inputs.map((x, j) => (j === 2 ? null : x));
  track('decode out', codec.decode([codec.encodeSum(inputs)], holes)[0]!);
  const p = codec.decodeAsync([track('decodeAsync parity', codec.encodeSum(inputs))], holes);
  track('decodeAsync outs', await track('decodeAsync promise', p));
  const images = randomInputs(2, 3 * 8 * 8).map((x, i) => track(`encodeConcat images[${i}]`, x));
  track('encodeConcat out', codec.encodeConcat(images, { channels: 3, height: 8, width: 8 }));
  const concat = codec.encodeConcatAsync(images, { channels: 3, height: 8, width: 8 });
  track('encodeConcatAsync out', await track('encodeConcatAsync promise', concat));
  // Failing calls: checked in the glue (RangeError, TypeError) and in the core (singular decode).
  const short = track('RangeError input', new Float32Array(n - 1));
  try { codec.encodeSum([inputs[0]!, short]); } catch { /* expected */ }
  try { await codec.encodeSumAsync([inputs[0]!, new Float64Array(n) as unknown as Float32Array]); } catch { /* expected */ }
  const singular = track('singular decode parity', new Float32Array(n));
  try { codec.decode([singular], [null, null]); } catch { /* expected */ }
  const rejected = codec.decodeAsync([singular], [null, inputs[1]!, null]);
  await track('singular decodeAsync promise', rejected).catch(() => undefined);
  return tracked;
}

t.test('after every kind of call settles, its arrays and promises are collected', async (t) => {
  const tracked = await callsOnFreshArrays();
  await collect();
  const alive = tracked.refs.flatMap((r, i) => (r.deref() === undefined ? [] : [tracked.names[i]!]));
  t.ok(tracked.refs.length >= 20, `${tracked.refs.length} objects tracked`);
  t.same(alive, [], 'nothing the calls used is still reachable');
});

t.test('50k calls leave array-buffer and external memory flat', async (t) => {
  const k = 4, n = 784;
  const inputs = randomInputs(k, n);
  const parity = codec.encodeSum(inputs);
  const holes = inputs.map((x, j) => (j === 2 ? null : x));
  const img = randomInputs(2, 3 * 8 * 8);
  // Each call allocates its output (3 KiB), so a call that kept its output, or any argument,
  // alive would add about 3 KiB per call: 10k calls ~ 30 MiB.
  const round = async (calls: number) => {
    for (let i = 0; i < calls; i++) {
      switch (i % 5) {
        case 0: codec.encodeSum(inputs); break;
        case 1: codec.decode([parity], holes); break;
        case 2: codec.encodeConcat(img, { channels: 3, height: 8, width: 8 }); break;
        case 3: await codec.encodeSumAsync(inputs); break;
        default: try { codec.encodeSum([inputs[0]!, parity.subarray(1)]); } catch { /* RangeError path */ }
      }
    }
    await collect();
    const m = process.memoryUsage();
    return { arrayBuffers: m.arrayBuffers / 2 ** 20, external: m.external / 2 ** 20 };
  };
  await round(10_000);  // warm-up: V8 heap sizing, the libuv pool threads, JIT
  const base = await round(10_000);
  const after = await round(40_000);
  t.comment(`arrayBuffers ${base.arrayBuffers.toFixed(2)} -> ${after.arrayBuffers.toFixed(2)} MiB, ` +
            `external ${base.external.toFixed(2)} -> ${after.external.toFixed(2)} MiB`);
  t.ok(after.arrayBuffers - base.arrayBuffers < 0.5, `array-buffer growth over 40k more calls < 0.5 MiB`);
  t.ok(after.external - base.external < 1, `external memory growth over 40k more calls < 1 MiB`);
});

// The async calls run off the event loop: count setImmediate turns while one large call is in
// flight (the sync call on the same data, for contrast, lets none happen).
import t from 'tap';

import * as codec from '../../src/codec/index.js';

async function turnsDuring<T>(work: () => Promise<T> | T): Promise<{ turns: number; ms: number }> {
  let turns = 0, done = false;
  const spin = () => { if (!done) { turns++; setImmediate(spin); } };
  setImmediate(spin);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  done = true;
  return { turns, ms };
}

// On a loaded machine the pool thread may finish while this thread waits for a core, so take the
// best of a few calls: one with `enough` turns proves the loop ran while the call was in flight.
async function mostTurns<T>(work: () => Promise<T>, enough: number): Promise<{ turns: number; ms: number }> {
  let best = { turns: -1, ms: 0 };
  for (let attempt = 0; attempt < 5 && best.turns < enough; attempt++) {
    const r = await turnsDuring(work);
    if (r.turns > best.turns) best = r;
  }
  return best;
}

t.test('encodeSumAsync / decodeAsync / encodeConcatAsync do not block the event loop', async (t) => {
  const before = codec.capabilities();
  codec.setIsa('ref');   // slowest kernel, one thread: the call lasts long enough to count turns
  codec.setThreads(1);
  t.teardown(() => { codec.setIsa(before.isa as 'ref'); codec.setThreads(before.threads); });
  const k = 4, n = 4 * 1024 * 1024;
  const inputs = Array.from({ length: k }, (_, i) => new Float32Array(n).fill(i + 0.5));
  const out = new Float32Array(n);

  const sync = await turnsDuring(() => { codec.encodeSum(inputs, { out }); });
  const asyncRun = await mostTurns(() => codec.encodeSumAsync(inputs, { out }), 3);
  t.comment(`sync: ${sync.turns} turns in ${sync.ms.toFixed(1)} ms; async: ${asyncRun.turns} turns in ${asyncRun.ms.toFixed(1)} ms`);
  t.equal(sync.turns, 0, 'the sync call holds the loop (no turns)');
  t.ok(asyncRun.turns >= 3, `the loop kept turning during encodeSumAsync (${asyncRun.turns} turns)`);
  t.equal(out[123], 0.5 + 1.5 + 2.5 + 3.5, 'and the result is right');

  const dec = await mostTurns(() => codec.decodeAsync([out], [inputs[0]!, null, inputs[2]!, inputs[3]!]), 1);
  t.ok(dec.turns >= 1, `decodeAsync: ${dec.turns} turns`);
  const img = Array.from({ length: 4 }, () => new Float32Array(3 * 512 * 512).fill(1));
  const cat = await mostTurns(() => codec.encodeConcatAsync(img, { channels: 3, height: 512, width: 512 }), 1);
  t.ok(cat.turns >= 1, `encodeConcatAsync: ${cat.turns} turns`);
});

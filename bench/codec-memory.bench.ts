// Memory over many codec calls (npm run bench:codec-memory [-- --json]): rounds of sync, async and
// failing calls, with RSS, V8 heap, external and array-buffer memory after a full GC printed per
// round and the growth per 100k calls after the first round (warm-up). The absolute RSS figures
// live here, not in a test: RSS moves with allocator arenas and with what else runs.
//
// Options: --rounds N (default 6)   --calls N per round (default 100000)   --json
import { cpus } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import * as codec from '../src/codec/index.js';
import { addonPath } from '../src/addon/load.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const json = argv.includes('--json');
const rounds = Number(opt('rounds') ?? 6);
const calls = Number(opt('calls') ?? 100_000);
const log = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');

const k = 4, n = 784;
const inputs = Array.from({ length: k }, (_, i) => new Float32Array(n).map((_, e) => Math.sin(e + i)));
const parity = codec.encodeSum(inputs);
const holes = inputs.map((x, j) => (j === 2 ? null : x));
const img = Array.from({ length: 2 }, () => new Float32Array(3 * 8 * 8).fill(0.5));

async function round(): Promise<void> {
  for (let i = 0; i < calls; i++) {
    switch (i % 10) {
      case 0: case 1: case 2: codec.encodeSum(inputs); break;
      case 3: case 4: codec.decode([parity], holes); break;
      case 5: codec.encodeConcat(img, { channels: 3, height: 8, width: 8 }); break;
      case 6: await codec.encodeSumAsync(inputs); break;
      case 7: await codec.decodeAsync([parity], holes); break;
      default: try { codec.encodeSum([inputs[0]!, parity.subarray(1)]); } catch { /* RangeError path */ }
    }
  }
}

async function settled(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return process.memoryUsage();
}

const mib = (b: number) => b / 2 ** 20;
const rows: { round: number; calls: number; rss_mib: number; heap_used_mib: number; external_mib: number; array_buffers_mib: number; seconds: number }[] = [];
log(`CPU: ${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores); Node ${process.version}; ISA ${codec.capabilities().isa}; addon ${addonPath()}`);
log(`${rounds} rounds of ${calls} calls (sync sum/decode/concat, async sum/decode, RangeError path)`);
for (let r = 0; r <= rounds; r++) {
  const t0 = performance.now();
  if (r > 0) await round();
  const m = await settled();
  rows.push({ round: r, calls: r * calls, rss_mib: mib(m.rss), heap_used_mib: mib(m.heapUsed), external_mib: mib(m.external),
              array_buffers_mib: mib(m.arrayBuffers), seconds: (performance.now() - t0) / 1000 });
  const x = rows[rows.length - 1]!;
  log(`round ${r}: rss ${x.rss_mib.toFixed(1)} MiB, heapUsed ${x.heap_used_mib.toFixed(1)}, external ${x.external_mib.toFixed(2)}, arrayBuffers ${x.array_buffers_mib.toFixed(2)} (${x.seconds.toFixed(1)} s)`);
}
// Growth per 100k calls from round 1 (after the warm-up round) to the last.
const first = rows[1]!, last = rows[rows.length - 1]!;
const per100k = (a: number, b: number) => ((b - a) / ((last.calls - first.calls) / 1e5));
const growth = rounds > 1 ? {
  rss_mib_per_100k_calls: per100k(first.rss_mib, last.rss_mib),
  heap_used_mib_per_100k_calls: per100k(first.heap_used_mib, last.heap_used_mib),
  external_mib_per_100k_calls: per100k(first.external_mib, last.external_mib),
  array_buffers_mib_per_100k_calls: per100k(first.array_buffers_mib, last.array_buffers_mib),
} : null;
if (growth) log(`growth per 100k calls after round 1: rss ${growth.rss_mib_per_100k_calls.toFixed(2)} MiB, heapUsed ${growth.heap_used_mib_per_100k_calls.toFixed(2)}, external ${growth.external_mib_per_100k_calls.toFixed(3)}, arrayBuffers ${growth.array_buffers_mib_per_100k_calls.toFixed(3)}`);
if (json) process.stdout.write(JSON.stringify({ machine: { cpu: cpus()[0]?.model, node: process.version, isa: codec.capabilities().isa }, rounds: rows, growth }, null, 1) + '\n');

// Engine benchmark (`npm run bench:engine`, JSON on stdout): per-query overhead of the engine over
// a session called in a worker directly, the frontend's added latency for a remote instance over
// a direct OIP call to the same `parm worker`, maximum throughput of each mode side by side, and
// the effect of the partial-group policy. Uses the fixture MLP (test/fixtures/models/) so that the
// figures are the engine's own cost, not the model's.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { spawnParmWorker } from '../src/bench/tail/serve-process.js';
import * as codec from '../src/codec/index.js';
import { createEngine, type Engine, type EngineOptions, type Mode } from '../src/index.js';
import { packageRoot } from '../src/package-root.js';
import { encodeHttpBody, fp32Bytes, fp32Input, readHttpBody, readOutputTensor, type InferResponse } from '../src/wire/index.js';

const require = createRequire(import.meta.url);
const repo = `${packageRoot()}/`;
const MODELS = `${repo}test/fixtures/models/`;
const MLP = `${MODELS}mlp.onnx`;
const PARITY = `${MODELS}mlp-parity-a.onnx`;
const E = 784;

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const OVERHEAD_QUERIES = Number(args.get('queries') ?? 2000);
const THROUGHPUT_MS = Number(args.get('seconds') ?? 2) * 1000;
const CONCURRENCY = Number(args.get('concurrency') ?? 64);

function input(seed: number): Float32Array {
  const x = new Float32Array(E);
  for (let i = 0; i < E; i++) x[i] = ((i * 2654435761 + seed * 40503) % 1000) / 1000;
  return x;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(lat: number[]): { n: number; p50: number; p99: number; mean: number } {
  const s = lat.slice().sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: s.length, p50: r(pct(s, 50)), p99: r(pct(s, 99)), mean: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

/** The obvious alternative: one onnxruntime session in one worker thread, called directly. */
async function directWorker(): Promise<{ run(x: Float32Array): Promise<void>; close(): Promise<number> }> {
  const ortPath = require.resolve('onnxruntime-node');
  const src = `
    const { parentPort } = require('node:worker_threads');
    const ort = require(${JSON.stringify(ortPath)});
    ort.InferenceSession.create(${JSON.stringify(MLP)}, { intraOpNumThreads: 1, interOpNumThreads: 1 }).then(async (s) => {
      await s.run({ input: new ort.Tensor('float32', new Float32Array(784), [1, 1, 28, 28]) });
      parentPort.on('message', async (x) => {
        const out = await s.run({ input: new ort.Tensor('float32', x, [1, 1, 28, 28]) });
        const d = out.logits.data;
        parentPort.postMessage(d, [d.buffer]);
      });
      parentPort.postMessage('ready');
    });`;
  const w = new Worker(src, { eval: true });
  await new Promise<void>((r) => w.once('message', () => r()));
  let pending: (() => void) | null = null;
  w.on('message', () => pending?.());
  return {
    run: (x) =>
      new Promise<void>((r) => {
        pending = r;
        w.postMessage(x);
      }),
    close: () => w.terminate(),
  };
}

/**
 * A direct OIP call, the obvious alternative to a frontend: one keep-alive connection, the request
 * built as a client builds it (JSON header + binary tensor), the answer read back to floats.
 */
function directOip(origin: string, model: string): { run(x: Float32Array): Promise<Float32Array>; close(): Promise<void> } {
  const pool = new Pool(origin, { connections: 1, pipelining: 1 });
  const path = `/v2/models/${model}/infer`;
  return {
    async run(x) {
      const header = JSON.stringify({ inputs: [fp32Input('input', [1, 1, 28, 28], x, true)], outputs: [{ name: 'logits', parameters: { binary_data: true } }] });
      const { body, headerLength } = encodeHttpBody(header, [fp32Bytes(x)]);
      const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) }, body });
      const bytes = new Uint8Array(await res.body.arrayBuffer());
      const h = res.headers['inference-header-content-length'];
      const msg = readHttpBody(bytes, Array.isArray(h) ? h[0] : h, 'response body');
      return readOutputTensor(msg.header as Partial<InferResponse>, msg.tensors, 'logits')!.data;
    },
    close: () => pool.close(),
  };
}

/**
 * Latency the frontend adds for a remote instance: one `parm worker` on 127.0.0.1 serving the
 * fixture MLP, called directly (directOip) and through an engine in mode none whose only instance
 * is that worker, one query in flight, the two alternating query by query so that machine noise
 * hits both alike.
 */
async function remoteOverhead(queries: number, trials: number): Promise<Record<string, unknown>> {
  const workDir = mkdtempSync(join(tmpdir(), 'parm-bench-engine-'));
  const worker = await spawnParmWorker({ model: MLP, modelName: 'm', host: '127.0.0.1', port: 0, workDir, name: 'worker' });
  const direct: number[] = [];
  const viaEngine: number[] = [];
  const diff: number[] = [];
  try {
    for (let trial = 0; trial < trials; trial++) {
      const d = directOip(worker.url, 'm');
      const e = await createEngine({ name: 'm', mode: 'none', deployedBackends: [`${worker.url}/v2/models/m`] });
      const xs = Array.from({ length: 16 }, (_, i) => input(i));
      for (let i = 0; i < 200; i++) {
        await d.run(xs[i % 16]!);
        await e.infer(xs[i % 16]!);
      }
      const ld: number[] = [];
      const le: number[] = [];
      for (let i = 0; i < queries; i++) {
        const x = xs[i % 16]!;
        // Alternate which goes first, so that neither always follows the other's idle gap.
        for (const which of i % 2 === 0 ? ['d', 'e'] : ['e', 'd']) {
          const t0 = performance.now();
          if (which === 'd') await d.run(x);
          else await e.infer(x);
          (which === 'd' ? ld : le).push(performance.now() - t0);
        }
      }
      await e.close();
      await d.close();
      const sd = summary(ld);
      const se = summary(le);
      direct.push(sd.p50);
      viaEngine.push(se.p50);
      diff.push(se.p50 - sd.p50);
    }
  } finally {
    await worker.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  return {
    worker: 'parm worker --model test/fixtures/models/mlp.onnx on 127.0.0.1 (a child process), keep-alive HTTP, binary tensor extension',
    directP50: spread(direct),
    frontendP50: spread(viaEngine),
    addedP50: spread(diff),
    addedP50Us: Math.round(spread(diff).median * 1000),
    goalUs: 150,
  };
}

function engineOptions(mode: Mode, extra: Partial<EngineOptions> = {}): EngineOptions {
  return { name: 'mlp', deployedModel: MLP, parityModels: [{ path: PARITY }], mode, k: 2, instances: 2, parityInstances: 1, ...extra };
}

/** Sequential queries (one in flight): latency per query, in ms. */
async function sequential(run: (x: Float32Array) => Promise<unknown>, n: number): Promise<number[]> {
  const xs = Array.from({ length: 16 }, (_, i) => input(i));
  for (let i = 0; i < 200; i++) await run(xs[i % 16]!); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await run(xs[i % 16]!);
    lat.push(performance.now() - t0);
  }
  return lat;
}

/** Closed loop with `concurrency` queries in flight for `ms`: completed queries per second. */
async function throughput(e: Engine, ms: number, concurrency: number): Promise<{ qps: number; p50: number; p99: number }> {
  const xs = Array.from({ length: 16 }, (_, i) => input(i));
  const lat: number[] = [];
  let done = 0;
  const end = performance.now() + ms;
  const loop = async (id: number): Promise<void> => {
    let i = id;
    while (performance.now() < end) {
      const t0 = performance.now();
      await e.infer(xs[i++ % 16]!);
      lat.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
  const s = summary(lat);
  return { qps: Math.round(done / ((performance.now() - t0) / 1000)), p50: s.p50, p99: s.p99 };
}

/** Open loop: Poisson arrivals at `rate`/s for `ms`; latency from the scheduled arrival time. */
async function openLoop(e: Engine, rate: number, ms: number, seed: number): Promise<number[]> {
  let s = seed;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
  const xs = Array.from({ length: 16 }, (_, i) => input(i));
  const lat: number[] = [];
  const ps: Promise<void>[] = [];
  const t0 = performance.now();
  let at = 0;
  let i = 0;
  while (at < ms) {
    at += (-Math.log(rnd()) / rate) * 1000;
    const wait = t0 + at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const scheduled = t0 + at;
    ps.push(e.infer(xs[i++ % 16]!).then(() => void lat.push(performance.now() - scheduled)));
  }
  await Promise.all(ps);
  return lat;
}

function spread(xs: number[]): { median: number; min: number; max: number; trials: number[] } {
  const s = xs.slice().sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { median: r(s[Math.floor(s.length / 2)]!), min: r(s[0]!), max: r(s[s.length - 1]!), trials: xs.map(r) };
}

const TRIALS = Number(args.get('trials') ?? 3);
/** `--only=remote,throughput`: run only these sections (overhead, remote, throughput, partial). */
const SECTIONS = new Set((args.get('only') ?? 'overhead,remote,throughput,partial').split(','));

async function main(): Promise<void> {
  const report: Record<string, unknown> = {
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
      node: process.version,
      onnxruntime: (require('onnxruntime-node/package.json') as { version: string }).version,
      codec: codec.capabilities(),
      model: 'test/fixtures/models/mlp.onnx (784-32-10 MLP, about 17 us a run), intraOpNumThreads 1',
    },
    settings: { trials: TRIALS, overheadQueries: OVERHEAD_QUERIES, throughputMs: THROUGHPUT_MS, concurrency: CONCURRENCY, instances: 'm = 2, k = 2, 1 parity instance' },
  };

  if (SECTIONS.has('overhead')) {
    // 1. Per-query overhead, one query in flight; trials interleave the three so that machine
    // noise hits them alike.
    // `parm-deadline-1ms`: decode policy deadline, waitMs 1, so that a reconstruction only answers
    // when the original is more than 1 ms late (no faults here: every reconstruction under `first`
    // is a tie race between an original and its group's parity).
    const seqModes = {
      none: engineOptions('none'),
      parm: engineOptions('parm'),
      'parm-deadline-1ms': engineOptions('parm', { decode: { kind: 'deadline', waitMs: 1 } }),
    };
    type SeqMode = keyof typeof seqModes;
    const lat: Record<'direct' | SeqMode, { p50: number[]; p99: number[]; reconstructed: number[] }> = {
      direct: { p50: [], p99: [], reconstructed: [] },
      none: { p50: [], p99: [], reconstructed: [] },
      parm: { p50: [], p99: [], reconstructed: [] },
      'parm-deadline-1ms': { p50: [], p99: [], reconstructed: [] },
    };
    for (let trial = 0; trial < TRIALS; trial++) {
      const d = await directWorker();
      const sd = summary(await sequential((x) => d.run(x), OVERHEAD_QUERIES));
      await d.close();
      lat.direct.p50.push(sd.p50);
      lat.direct.p99.push(sd.p99);
      for (const [mode, opts] of Object.entries(seqModes) as [SeqMode, EngineOptions][]) {
        const e = await createEngine(opts);
        const se = summary(await sequential((x) => e.infer(x), OVERHEAD_QUERIES));
        const m = e.metrics();
        await e.close();
        lat[mode].p50.push(se.p50);
        lat[mode].p99.push(se.p99);
        lat[mode].reconstructed.push(m.reconstructions / m.answered);
      }
    }
    const overhead: Record<string, unknown> = { direct: { p50: spread(lat.direct.p50), p99: spread(lat.direct.p99) } };
    for (const mode of Object.keys(seqModes) as SeqMode[]) {
      overhead[mode] = {
        p50: spread(lat[mode].p50),
        p99: spread(lat[mode].p99),
        overheadP50: spread(lat[mode].p50.map((v, i) => v - lat.direct.p50[i]!)),
        overheadP99: spread(lat[mode].p99.map((v, i) => v - lat.direct.p99[i]!)),
        fractionReconstructed: spread(lat[mode].reconstructed),
      };
    }
    report['overheadMs'] = overhead;
  }
  if (SECTIONS.has('remote')) report['remoteOverheadMs'] = await remoteOverhead(OVERHEAD_QUERIES, TRIALS);

  if (SECTIONS.has('throughput')) {
    // 2. Maximum throughput of each mode (closed loop), same deployment size; rotating order.
    const configs: [string, EngineOptions][] = [
      ['none', engineOptions('none')],
      ['equal-resources', engineOptions('equal-resources')],
      ['hedged', engineOptions('hedged')],
      ['parm', engineOptions('parm')],
      ['none+batching', engineOptions('none', { batching: { maxBatch: 16, maxDelayMs: 1 } })],
      ['parm+batching', engineOptions('parm', { batching: { maxBatch: 16, maxDelayMs: 1 } })],
    ];
    const qps = new Map<string, number[]>(configs.map(([n]) => [n, []]));
    const p99 = new Map<string, number[]>(configs.map(([n]) => [n, []]));
    const extra = new Map<string, { reconstructions: number; hedges: number; parityCancelled: number; instances: number }>();
    for (let trial = 0; trial < TRIALS; trial++) {
      for (let c = 0; c < configs.length; c++) {
        const [name, opts] = configs[(c + trial) % configs.length]!;
        const e = await createEngine({ ...opts, maxPending: 100_000 });
        await throughput(e, 300, CONCURRENCY); // warm-up
        const res = await throughput(e, THROUGHPUT_MS, CONCURRENCY);
        const m = e.metrics();
        await e.close();
        qps.get(name)!.push(res.qps);
        p99.get(name)!.push(res.p99);
        extra.set(name, { reconstructions: m.reconstructions, hedges: m.hedges, parityCancelled: m.parityCancelled, instances: m.instances.length });
      }
    }
    const noneMedian = spread(qps.get('none')!).median;
    report['throughput'] = Object.fromEntries(
      configs.map(([name]) => {
        const q = spread(qps.get(name)!);
        return [name, { qps: q, ratioToNone: Math.round((q.median / noneMedian) * 100) / 100, p99Ms: spread(p99.get(name)!), lastTrial: extra.get(name) }];
      }),
    );
  }

  if (SECTIONS.has('partial')) {
    // 3. Partial-group policy at a light load (groups rarely fill within groupWaitMs), with one
    // slow deployed instance: 10 % of its queries take 50 ms more.
    const partial: Record<string, unknown> = {};
    for (const policy of ['replicate', 'unprotected'] as const) {
      const p50s: number[] = [];
      const p99s: number[] = [];
      let last: Record<string, number> = {};
      for (let trial = 0; trial < TRIALS; trial++) {
        const e = await createEngine(
          engineOptions('parm', { partialGroup: policy, groupWaitMs: 2, faults: [{ kind: 'delay', instance: 'deployed-0', ms: 50, probability: 0.1 }] }),
        );
        const s = summary(await openLoop(e, 100, THROUGHPUT_MS, 7 + trial));
        const m = e.metrics();
        await e.close();
        p50s.push(s.p50);
        p99s.push(s.p99);
        last = { queries: s.n, groups: m.groups, partialGroups: m.partialGroups, unprotected: m.unprotected, reconstructions: m.reconstructions };
      }
      partial[policy] = { p50Ms: spread(p50s), p99Ms: spread(p99s), lastTrial: last };
    }
    report['partialGroupPolicy'] = { ratePerS: 100, groupWaitMs: 2, fault: 'deployed-0: +50 ms with p = 0.1', ...partial };
  }

  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();

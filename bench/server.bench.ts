// Network front benchmark (`npm run bench:server`): open-loop load at a fixed offered rate against
// the parm server (mode parm and mode none) and a bare uWebSockets.js app answering the same
// routes with payloads of the same sizes, for WebSocket and HTTP, binary and JSON. Latency runs
// from each request's scheduled send time (no coordinated omission). Each system runs in its own
// server process; this process only generates load.
// Options: --rate=N (requests/s, default 500) --seconds=S (per scenario, default 4)
//          --connections=C (default 8) --warmup=S (default 1) --trials=T (default 3; every trial starts
//          fresh server processes, systems in rotated order) --json (one JSON object on stdout)
// Reported per cell: the median over trials of each percentile, with [min, max] across trials.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { encodeFrame, encodeHttpBody, fp32Bytes, fp32Input, isReconstructed, readHttpBody, readMessage, type InferRequest, type InferResponse } from '../src/wire/index.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 500);
const SECONDS = Number(args.get('seconds') ?? 4);
const WARMUP = Number(args.get('warmup') ?? 1);
const CONNECTIONS = Number(args.get('connections') ?? 8);
const TRIALS = Number(args.get('trials') ?? 3);
const JSON_OUT = args.has('json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

type System = 'parm' | 'none' | 'echo';
type Transport = 'ws' | 'http';
type Format = 'binary' | 'json';

interface Result {
  system: System;
  transport: Transport;
  format: Format;
  offered: number;
  achieved: number;
  sent: number;
  answered: number;
  errors: number;
  reconstructed: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

const CHILD = fileURLToPath(new URL('./server-bench-child.js', import.meta.url));
const require = createRequire(import.meta.url);

function image(seed: number): Float32Array {
  const x = new Float32Array(784);
  for (let i = 0; i < 784; i++) x[i] = ((i * 2654435761 + seed * 40503) % 1000) / 1000;
  return x;
}
const IMAGES = Array.from({ length: 64 }, (_, i) => image(i + 1));

function header(id: number, binary: boolean, data: Float32Array): InferRequest {
  return { id: String(id), inputs: [fp32Input('input', [1, 1, 28, 28], data, binary)] };
}

/** Pre-encoded requests (one per image), with the id patched per send for the WebSocket. */
function wsPayload(id: number, format: Format): Uint8Array | string {
  const x = IMAGES[id % IMAGES.length]!;
  if (format === 'json') return JSON.stringify(header(id, false, x));
  return encodeFrame(JSON.stringify(header(id, true, x)), [fp32Bytes(x)]);
}

function httpPayload(id: number, format: Format): { body: Uint8Array; headers: Record<string, string> } {
  const x = IMAGES[id % IMAGES.length]!;
  if (format === 'json') return { body: encodeHttpBody(JSON.stringify(header(id, false, x))).body, headers: { 'Content-Type': 'application/json' } };
  const { body, headerLength } = encodeHttpBody(JSON.stringify({ ...header(id, true, x), parameters: { binary_data_output: true } }), [fp32Bytes(x)]);
  return { body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) } };
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function startChild(system: System, sizes?: Record<string, number>): Promise<{ child: ChildProcess; port: number; model: string }> {
  const a = [CHILD, `--system=${system}`];
  if (sizes) a.push(`--sizes=${JSON.stringify(sizes)}`);
  const child = spawn(process.execPath, a, { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`${system} server exited (${code})`)));
  });
  const { port, model } = JSON.parse(line) as { port: number; model?: string };
  return { child, port, model: model ?? 'echo' };
}

async function stopChild(child: ChildProcess): Promise<void> {
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** Response body sizes parm produces for one query, so the echo answers with the same sizes. */
async function measureSizes(port: number, model: string): Promise<Record<string, number>> {
  const sizes: Record<string, number> = {};
  for (const format of ['binary', 'json'] as const) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v2/models/${model}/infer/stream`, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    const got = new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
    ws.send(wsPayload(1, format));
    sizes[format === 'binary' ? 'wsBinary' : 'wsJson'] = (await got).length;
    ws.close();
    const { body, headers } = httpPayload(1, format);
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/${model}/infer`, { method: 'POST', body, headers });
    sizes[format === 'binary' ? 'httpBinary' : 'httpJson'] = (await res.arrayBuffer()).byteLength;
  }
  return sizes;
}

/**
 * Open loop: request i is due at start + i / rate. A timer sends everything due; latency is
 * measured from the due time, so time a request waits to be sent counts against the server.
 */
async function runScenario(system: System, port: number, model: string, transport: Transport, format: Format): Promise<Result> {
  const total = Math.round(RATE * (WARMUP + SECONDS));
  const warm = Math.round(RATE * WARMUP);
  const due = new Float64Array(total);
  const lat = new Float64Array(total).fill(NaN);
  let answered = 0;
  let errors = 0;
  let reconstructed = 0;
  let sent = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const finish = (i: number, ok: boolean, rec: boolean) => {
    if (i >= warm) {
      if (ok) {
        lat[i] = performance.now() - due[i]!;
        if (rec) reconstructed++;
      } else errors++;
    }
    answered++;
    if (answered === total) resolveDone();
  };

  let send: (i: number) => void;
  const cleanup: Array<() => void> = [];
  if (transport === 'ws') {
    const conns: WebSocket[] = [];
    const fifo: number[][] = [];
    for (let c = 0; c < CONNECTIONS; c++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v2/models/${model}/infer/stream`, { perMessageDeflate: false });
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      const q: number[] = [];
      fifo.push(q);
      ws.on('message', (d: Buffer, isBinary) => {
        if (system === 'echo') {
          finish(q.shift()!, true, false);
          return;
        }
        const r = readMessage(d, isBinary).header as InferResponse & { error?: string };
        finish(Number(r.id), r.error === undefined, isReconstructed(r));
      });
      conns.push(ws);
      cleanup.push(() => ws.close());
    }
    send = (i) => {
      const c = i % CONNECTIONS;
      fifo[c]!.push(i);
      conns[c]!.send(wsPayload(i, format), { binary: format === 'binary' });
    };
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    cleanup.push(() => agent.destroy());
    send = (i) => {
      const { body, headers } = httpPayload(i, format);
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: `/v2/models/${model}/infer`, agent, headers: { ...headers, 'Content-Length': String(body.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let rec = false;
            if (system !== 'echo' && res.statusCode === 200) {
              const hl = res.headers['inference-header-content-length'];
              rec = isReconstructed(readHttpBody(Buffer.concat(chunks), typeof hl === 'string' ? hl : undefined, 'response body').header as InferResponse);
            }
            finish(i, res.statusCode === 200, rec);
          });
        },
      );
      req.on('error', () => finish(i, false, false));
      req.end(body);
    };
  }

  const start = performance.now() + 20;
  for (let i = 0; i < total; i++) due[i] = start + (i * 1000) / RATE;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && due[sent]! <= now) send(sent++);
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, due[sent]! - now)));
      else resolve();
    };
    setTimeout(tick, 20);
  });
  const timeout = new Promise<void>((r) => setTimeout(r, 30_000).unref());
  await Promise.race([done, timeout]);
  const elapsed = (performance.now() - start) / 1000 - WARMUP;
  for (const c of cleanup) c();
  const measured = lat.subarray(warm).filter((v) => !Number.isNaN(v)).sort();
  return {
    system,
    transport,
    format,
    offered: RATE,
    achieved: measured.length / Math.max(elapsed, SECONDS),
    sent: total - warm,
    answered: measured.length,
    errors,
    reconstructed,
    p50: pct(measured, 0.5),
    p99: pct(measured, 0.99),
    p999: pct(measured, 0.999),
    max: measured.length ? measured[measured.length - 1]! : NaN,
  };
}

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavg: loadavg(),
    node: process.version,
    uws: (require('uWebSockets.js/package.json') as { version: string }).version,
    onnxruntime_node: (require('onnxruntime-node/package.json') as { version: string }).version,
  };
  log(`CPU: ${machine.cpu} (${machine.cores} cores, load ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}); Node ${machine.node}; uWS ${machine.uws}`);
  log(`open loop: ${RATE} req/s offered, ${SECONDS} s measured after ${WARMUP} s warm-up, ${CONNECTIONS} connections`);
  const results: Result[] = [];
  const scenarios: Array<[Transport, Format]> = [
    ['ws', 'binary'],
    ['ws', 'json'],
    ['http', 'binary'],
    ['http', 'json'],
  ];
  // parm first in trial 1: its answer sizes set the echo's payload sizes.
  const { child: c0, port: p0, model: m0 } = await startChild('parm');
  const sizes = await measureSizes(p0, m0);
  await stopChild(c0);
  log(`answer sizes (bytes): ${JSON.stringify(sizes)}`);
  const order: System[] = ['parm', 'none', 'echo'];
  for (let trial = 0; trial < TRIALS; trial++) {
    const systems = order.map((_, k) => order[(k + trial) % order.length]!);
    for (const system of systems) {
      const { child, port, model } = await startChild(system, system === 'echo' ? sizes : undefined);
      try {
        for (const [transport, format] of scenarios) {
          const r = await runScenario(system, port, model, transport, format);
          results.push(r);
          log(
            `trial ${trial + 1} ${system.padEnd(5)} ${transport.padEnd(4)} ${format.padEnd(6)} ${r.achieved.toFixed(0).padStart(6)} req/s  ` +
              `p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  p99.9 ${r.p999.toFixed(3)} ms  max ${r.max.toFixed(1)} ms  ` +
              `errors ${r.errors}  reconstructed ${r.reconstructed}`,
          );
        }
      } finally {
        await stopChild(child);
      }
    }
  }
  const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  };
  type Cell = { system: System; transport: Transport; format: Format; achieved: number; errors: number; reconstructed: number } & Record<
    'p50' | 'p99' | 'p999',
    { median: number; min: number; max: number }
  >;
  const cells: Cell[] = [];
  for (const system of order) {
    for (const [transport, format] of scenarios) {
      const rs = results.filter((r) => r.system === system && r.transport === transport && r.format === format);
      const stat = (k: 'p50' | 'p99' | 'p999') => ({ median: median(rs.map((r) => r[k])), min: Math.min(...rs.map((r) => r[k])), max: Math.max(...rs.map((r) => r[k])) });
      cells.push({
        system,
        transport,
        format,
        achieved: median(rs.map((r) => r.achieved)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        reconstructed: rs.reduce((a, r) => a + r.reconstructed, 0),
        p50: stat('p50'),
        p99: stat('p99'),
        p999: stat('p999'),
      });
    }
  }
  log(`\nmedian over ${TRIALS} trials [min, max], ms:`);
  log('system transport format   req/s   p50                      p99                      p99.9');
  const fmt = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(3)} [${x.min.toFixed(2)}, ${x.max.toFixed(2)}]`.padEnd(25);
  for (const c of cells) {
    log(`${c.system.padEnd(6)} ${c.transport.padEnd(9)} ${c.format.padEnd(7)} ${c.achieved.toFixed(0).padStart(6)}   ${fmt(c.p50)}${fmt(c.p99)}${fmt(c.p999)}`);
  }
  const find = (s: System, t: Transport, f: Format) => cells.find((r) => r.system === s && r.transport === t && r.format === f)!;
  const ratio = (a: Cell, b: Cell) => ({ p50: a.p50.median / b.p50.median, p99: a.p99.median / b.p99.median, p999: a.p999.median / b.p999.median });
  const ratios = scenarios.map(([t, f]) => ({
    transport: t,
    format: f,
    parm_over_echo: ratio(find('parm', t, f), find('echo', t, f)),
    parm_over_none: ratio(find('parm', t, f), find('none', t, f)),
    none_over_echo: ratio(find('none', t, f), find('echo', t, f)),
  }));
  log('ratios of medians (latency, >1 = slower):');
  for (const r of ratios) {
    const f = (x: { p50: number; p99: number; p999: number }) => `p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} p99.9 ${x.p999.toFixed(2)}`;
    log(`  ${r.transport.padEnd(4)} ${r.format.padEnd(6)} parm/echo ${f(r.parm_over_echo)} | parm/none ${f(r.parm_over_none)} | none/echo ${f(r.none_over_echo)}`);
  }
  if (JSON_OUT) process.stdout.write(JSON.stringify({ machine, config: { rate: RATE, seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, trials: TRIALS }, sizes, cells, ratios, results }, null, 1) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`server.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

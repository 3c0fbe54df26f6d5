// Load for the network benchmarks (bench/server.bench.ts, bench/throughput.bench.ts): server
// processes to measure (parm in a mode, the bare uWebSockets.js echo, the hand-written baseline),
// the request payloads, and one open-loop scenario: request i is due at start + i / rate and its
// latency counts from then, so time a request waits to be sent counts against the server.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { withServerNodeFlags } from '../src/server/node-flags.js';
import { encodeFrame, encodeHttpBody, fp32Bytes, fp32Input, isReconstructed, readHttpBody, readMessage, type InferRequest, type InferResponse } from '../src/wire/index.js';

export type Transport = 'ws' | 'http';
export type Format = 'binary' | 'json';

export interface ScenarioResult {
  system: string;
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

export interface ScenarioOptions {
  rate: number;
  seconds: number;
  warmup: number;
  connections: number;
  /** The echo answers without an id: answers are matched in order per connection. */
  echo: boolean;
}

/** Node and V8 flags for every server process: a parm server's own (src/server/node-flags.ts), and PARM_BENCH_NODE_FLAGS (space-separated). */
const NODE_FLAGS = withServerNodeFlags((process.env.PARM_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean));
const CHILD = fileURLToPath(new URL('./server-bench-child.js', import.meta.url));
const HANDWRITTEN = fileURLToPath(new URL('./handwritten-server.js', import.meta.url));

function image(seed: number): Float32Array {
  const x = new Float32Array(784);
  for (let i = 0; i < 784; i++) x[i] = ((i * 2654435761 + seed * 40503) % 1000) / 1000;
  return x;
}
const IMAGES = Array.from({ length: 64 }, (_, i) => image(i + 1));

function header(id: number, binary: boolean, data: Float32Array): InferRequest {
  return { id: String(id), inputs: [fp32Input('input', [1, 1, 28, 28], data, binary)] };
}

/** One request (one image), as a WebSocket message. */
export function wsPayload(id: number, format: Format): Uint8Array | string {
  const x = IMAGES[id % IMAGES.length]!;
  if (format === 'json') return JSON.stringify(header(id, false, x));
  return encodeFrame(JSON.stringify(header(id, true, x)), [fp32Bytes(x)]);
}

/** One request as an HTTP body with its headers. */
export function httpPayload(id: number, format: Format): { body: Uint8Array; headers: Record<string, string> } {
  const x = IMAGES[id % IMAGES.length]!;
  if (format === 'json') return { body: encodeHttpBody(JSON.stringify(header(id, false, x))).body, headers: { 'Content-Type': 'application/json' } };
  const { body, headerLength } = encodeHttpBody(JSON.stringify({ ...header(id, true, x), parameters: { binary_data_output: true } }), [fp32Bytes(x)]);
  return { body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) } };
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Starts one server process: `args` for bench/server-bench-child.js (`--system=parm|none|echo`,
 * `--mode=`, `--k=`), or the hand-written baseline with `handwritten` true; `script` runs another
 * build's child instead (bench:main-thread --against). Resolves with its port and model once it
 * printed them. It runs under a parm server's Node flags (both servers alike); PARM_BENCH_NODE_FLAGS
 * in the environment adds more, for every server; `extraNodeFlags` for this one.
 */
export async function startChild(args: string[], handwritten = false, script = handwritten ? HANDWRITTEN : CHILD, extraNodeFlags: readonly string[] = []): Promise<{ child: ChildProcess; port: number; model: string }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...extraNodeFlags, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`server ${args.join(' ')} exited (${code})`)));
  });
  const { port, model } = JSON.parse(line) as { port: number; model?: string };
  return { child, port, model: model ?? 'echo' };
}

/**
 * The replies a server child writes after its first line (one JSON object a line, answers to its
 * stdin commands): resolves with the next reply that `match` accepts.
 */
export function replies(child: ChildProcess): (match: (o: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> {
  const waiting: { match: (o: Record<string, unknown>) => boolean; resolve: (o: Record<string, unknown>) => void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const i = waiting.findIndex((w) => w.match(o));
        if (i >= 0) waiting.splice(i, 1)[0]!.resolve(o);
      } catch {
        // not a reply
      }
    }
  });
  return (match) => new Promise((resolve) => waiting.push({ match, resolve }));
}

export async function stopChild(child: ChildProcess): Promise<void> {
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

/** Response body sizes parm produces for one query, so the echo answers with the same sizes. */
export async function measureSizes(port: number, model: string): Promise<Record<string, number>> {
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

/** One open-loop scenario against a running server. */
export async function runScenario(system: string, port: number, model: string, transport: Transport, format: Format, o: ScenarioOptions): Promise<ScenarioResult> {
  const total = Math.round(o.rate * (o.warmup + o.seconds));
  const warm = Math.round(o.rate * o.warmup);
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
    for (let c = 0; c < o.connections; c++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v2/models/${model}/infer/stream`, { perMessageDeflate: false });
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      const q: number[] = [];
      fifo.push(q);
      ws.on('message', (d: Buffer, isBinary) => {
        if (o.echo) {
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
      const c = i % o.connections;
      fifo[c]!.push(i);
      conns[c]!.send(wsPayload(i, format), { binary: format === 'binary' });
    };
  } else {
    const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
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
            if (!o.echo && res.statusCode === 200) {
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
  for (let i = 0; i < total; i++) due[i] = start + (i * 1000) / o.rate;
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
  const elapsed = (performance.now() - start) / 1000 - o.warmup;
  for (const c of cleanup) c();
  const measured = lat.subarray(warm).filter((v) => !Number.isNaN(v)).sort();
  return {
    system,
    transport,
    format,
    offered: o.rate,
    achieved: measured.length / Math.max(elapsed, o.seconds),
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

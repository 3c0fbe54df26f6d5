// The open-loop load generator: sends queries on a Poisson schedule over WebSocket, pipelined,
// and measures each latency from the query's SCHEDULED send time, so that a slow server cannot
// hide its queueing by slowing the sender down (no coordinated omission). Runs inside a child
// process (loadgen-child.ts) so that the orchestrator's own work never delays a send.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { loadFashionMnistTest } from '../../dataset.js';
import { argmax } from '../../tensor-math.js';
import type { Framing } from '../../wire/index.js';
import { binaryRequest, jsonRequest, parseAnswer } from './stream-messages.js';
import { makeRng, permutation, poissonSchedule } from './rng.js';

export interface LoadOptions {
  /** ws://host:port/v2/models/{m}/infer/stream */
  url: string;
  /** Offered load of this generator, queries/s. */
  rate: number;
  durationMs: number;
  /** Queries scheduled in the first `warmupMs` are sent but not measured. */
  warmupMs: number;
  /** Seeds the arrival schedule and the query order; `generator` separates several generators. */
  seed: number;
  generator: number;
  connections: number;
  framing: Framing;
  datasetDir: string;
  /** After the last send, how long to wait for the remaining answers. */
  drainTimeoutMs: number;
  /** Only the first `datasetLimit` test images are used (all by default). */
  datasetLimit?: number;
}

export interface LoadResult {
  /** Queries scheduled (and sent) in the measured window. */
  scheduled: number;
  /** Latencies in ms of the measured answers that carried a prediction. */
  latenciesMs: Float64Array;
  /**
   * Of those answers that carried the engine's latency (`parm_latency_ms`), the time spent outside
   * the engine, ms: the latency minus the engine's (sending, transport, framing and parsing on both
   * sides, the wait for the server's main thread), in answer order.
   */
  outsideMs: Float64Array;
  /** The engine's latency of each of those answers, ms (outsideMs[i] belongs with engineMs[i]). */
  engineMs: Float64Array;
  reconstructed: number;
  correct: number;
  /** Error answers in the measured window (`{"id", "error"}`), and queries never answered. */
  errors: number;
  lost: number;
  errorSamples: string[];
  /** How late the generator itself sent, ms after the scheduled time (its own health). */
  sendLagMs: { p50: number; p99: number; max: number };
  /** Measured-window span (ms) and the rate actually offered over it. */
  windowMs: number;
  offeredRate: number;
  /** CPU time (user + system, ms) the generator process used during the run: its share of the machine. */
  cpuMs: number;
}

export interface Progress {
  sent: number;
  answered: number;
  total: number;
  /** How far into its schedule the load is, ms (0 before the first send): the measured window starts at LoadOptions.warmupMs. */
  elapsedMs: number;
}

interface Pending {
  scheduledAt: number;
  label: number;
  measured: boolean;
}

/**
 * Longest sub-millisecond sleep between loop turns (ms): an answer that arrives meanwhile is read
 * at most this late, which bounds what the sleep adds to a measured latency.
 */
const SPIN_SLICE_MS = 0.1;
/** Atomics.wait on this cell (never notified) is a precise sleep that uses no CPU. */
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function openSocket(url: string, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`WebSocket ${url}: not open after ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function quantileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Runs one open-loop load against `opts.url`; `onProgress` is called a few times a second. */
export async function runLoad(opts: LoadOptions, onProgress?: (p: Progress) => void): Promise<LoadResult> {
  const data = loadFashionMnistTest(opts.datasetDir, opts.datasetLimit);
  const size = data.height * data.width;
  const shape = [1, 1, data.height, data.width];
  const schedule = poissonSchedule(opts.rate, opts.durationMs, makeRng(opts.seed, 2 * opts.generator));
  const order = permutation(data.count, makeRng(opts.seed, 2 * opts.generator + 1));
  const total = schedule.length;

  const sockets = await Promise.all(Array.from({ length: Math.max(1, opts.connections) }, () => openSocket(opts.url, 10_000)));
  const pending = new Map<string, Pending>();
  const latencies: number[] = [];
  const outside: number[] = [];
  const engine: number[] = [];
  const lags = new Float64Array(total);
  let reconstructed = 0;
  let correct = 0;
  let errors = 0;
  let measuredScheduled = 0;
  let answered = 0;
  let sent = 0;
  const errorSamples: string[] = [];
  const noteError = (msg: string): void => {
    if (errorSamples.length < 5) errorSamples.push(msg);
  };

  let finish: () => void = () => {};
  const drained = new Promise<void>((resolve) => (finish = resolve));

  const onMessage = (raw: WebSocket.RawData, isBinary: boolean): void => {
    const now = performance.now();
    let ans;
    try {
      ans = parseAnswer(raw as Buffer, isBinary);
    } catch (err) {
      noteError(`unreadable answer: ${(err as Error).message}`);
      return;
    }
    const p = pending.get(ans.id);
    if (!p) {
      noteError(`answer for unknown id ${JSON.stringify(ans.id)}${ans.error ? `: ${ans.error}` : ''}`);
      return;
    }
    pending.delete(ans.id);
    answered++;
    if (p.measured) {
      if (ans.error !== undefined || !ans.logits) {
        errors++;
        noteError(ans.error ?? 'no logits');
      } else {
        latencies.push(now - p.scheduledAt);
        if (ans.engineMs !== null) {
          outside.push(Math.max(0, now - p.scheduledAt - ans.engineMs));
          engine.push(ans.engineMs);
        }
        if (ans.reconstructed) reconstructed++;
        if (argmax(ans.logits) === p.label) correct++;
      }
    }
    if (sent === total && pending.size === 0) finish();
  };
  for (const ws of sockets) {
    ws.on('message', onMessage);
    ws.on('close', (code, reason) => {
      if (sent < total || pending.size > 0) noteError(`connection closed (${code} ${reason.toString()})`);
      finish();
    });
    ws.on('error', (err) => noteError(`connection error: ${err.message}`));
  }

  // The next payload is built while waiting for its slot, so building costs no latency.
  const build = (i: number): string | Uint8Array => {
    const img = order[(opts.generator + i) % data.count]!;
    const image = data.images.subarray(img * size, (img + 1) * size);
    const id = String(i);
    return opts.framing === 'binary' ? binaryRequest(id, image, shape) : jsonRequest(id, image, shape);
  };

  const cpu0 = process.cpuUsage();
  const t0 = performance.now() + 20;
  let next = 0;
  let nextPayload = total > 0 ? build(0) : null;
  const elapsed = (): number => Math.max(0, performance.now() - t0);
  const progressTimer = onProgress ? setInterval(() => onProgress({ sent, answered, total, elapsedMs: elapsed() }), 250) : null;

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      let now = performance.now();
      while (next < total && t0 + schedule[next]! <= now) {
        const at = t0 + schedule[next]!;
        const measured = schedule[next]! >= opts.warmupMs;
        if (measured) measuredScheduled++;
        const img = order[(opts.generator + next) % data.count]!;
        pending.set(String(next), { scheduledAt: at, label: data.labels[img]!, measured });
        sockets[next % sockets.length]!.send(nextPayload!);
        now = performance.now();
        lags[next] = now - at;
        next++;
        sent = next;
        nextPayload = next < total ? build(next) : null;
        now = performance.now();
      }
      if (next >= total) return resolve();
      const wait = t0 + schedule[next]! - performance.now();
      // Timers have ~1 ms granularity: a sub-ms wait blocks the thread for at most SPIN_SLICE_MS
      // (not a busy loop: a spinning generator takes a core from the server it measures), then
      // the next loop turn reads the answers that came meanwhile and looks again.
      if (wait >= 1) setTimeout(tick, Math.floor(wait));
      else {
        if (wait > 0) Atomics.wait(sleepCell, 0, 0, Math.min(wait, SPIN_SLICE_MS));
        setImmediate(tick);
      }
    };
    tick();
  });

  if (pending.size > 0) {
    const timer = setTimeout(finish, opts.drainTimeoutMs);
    await drained;
    clearTimeout(timer);
  }
  if (progressTimer) clearInterval(progressTimer);
  onProgress?.({ sent, answered, total, elapsedMs: elapsed() });

  let lost = 0;
  for (const p of pending.values()) if (p.measured) lost++;
  if (lost > 0) noteError(`${lost} queries unanswered ${opts.drainTimeoutMs} ms after the last send`);
  for (const ws of sockets) ws.terminate();

  const sortedLags = Float64Array.from(lags).sort();
  const firstMeasured = schedule.findIndex((s) => s >= opts.warmupMs);
  const windowMs = Math.max(1e-9, opts.durationMs - opts.warmupMs);
  return {
    scheduled: measuredScheduled,
    latenciesMs: Float64Array.from(latencies),
    outsideMs: Float64Array.from(outside),
    engineMs: Float64Array.from(engine),
    reconstructed,
    correct,
    errors,
    lost,
    errorSamples,
    sendLagMs: {
      p50: quantileSorted(sortedLags, 0.5),
      p99: quantileSorted(sortedLags, 0.99),
      max: sortedLags.length ? sortedLags[sortedLags.length - 1]! : 0,
    },
    windowMs,
    offeredRate: firstMeasured < 0 ? 0 : (measuredScheduled * 1000) / windowMs,
    cpuMs: (() => {
      const c = process.cpuUsage(cpu0);
      return (c.user + c.system) / 1000;
    })(),
  };
}

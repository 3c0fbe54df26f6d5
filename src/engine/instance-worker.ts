// Entry of one model instance: an onnxruntime-node session in a worker thread or a child process.
// Runs one task at a time, applies injected faults, and sends heartbeats while its thread is free.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { faultDelayMs } from './faults.js';
import { sessionSignature } from './session-signature.js';
import type { Disturbance, FromInstance, InstanceFault, ToInstance } from './instance-messages.js';

type Port = { send(msg: FromInstance, transfer?: ArrayBuffer[]): void; onMessage(fn: (m: ToInstance) => void): void };

function makePort(): Port {
  if (parentPort) {
    const p = parentPort;
    return { send: (m, transfer) => p.postMessage(m, transfer ?? []), onMessage: (fn) => p.on('message', fn) };
  }
  if (process.send) {
    return {
      send: (m) => {
        process.send!(m);
      },
      onMessage: (fn) => process.on('message', (m) => fn(m as ToInstance)),
    };
  }
  throw new Error('parm engine worker started without a parent (thread or IPC channel)');
}

const port = makePort();
let session: ort.InferenceSession | null = null;
let inputName = 'input';
let outputName = 'logits';
let faults: InstanceFault[] = [];
let disturbance: (Disturbance & { until: number }) | null = null;
let runsSinceStart = 0;
let hung = false;
let heartbeat: NodeJS.Timeout | null = null;
let contentionTimer: NodeJS.Timeout | null = null;
/** Reused input staging buffer: onnxruntime rejects SharedArrayBuffer-backed tensors. */
let staging = new Float32Array(0);
const queue: Extract<ToInstance, { t: 'run' }>[] = [];
let running = false;

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Deliberate CPU contention (fault injection): occupy this instance's thread.
  }
}

function applyContention(): void {
  if (contentionTimer) clearInterval(contentionTimer);
  contentionTimer = null;
  const c = faults.find((f): f is Extract<InstanceFault, { kind: 'contention' }> => f.kind === 'contention');
  // A slice of 20 ms for background contention: busy `intensity` of every slice.
  const slice = 20;
  const tick = (): void => {
    const now = performance.now();
    let busyMs = 0;
    if (c) busyMs = c.busyMs;
    if (disturbance && disturbance.kind === 'contention' && now < disturbance.until) {
      busyMs = Math.max(busyMs, disturbance.intensity * slice);
    }
    if (busyMs > 0) busy(busyMs);
  };
  const period = c ? c.periodMs : slice;
  if (c || disturbance?.kind === 'contention') contentionTimer = setInterval(tick, period);
  contentionTimer?.unref();
}

async function runOne(msg: Extract<ToInstance, { t: 'run' }>): Promise<void> {
  if (hung || faults.some((f) => f.kind === 'hang')) {
    hung = true;
    if (heartbeat) clearInterval(heartbeat);
    return; // Never answers: the engine must detect the silence.
  }
  const crash = faults.find((f): f is Extract<InstanceFault, { kind: 'crash' }> => f.kind === 'crash');
  if (crash && runsSinceStart >= crash.afterQueries) process.exit(17);
  runsSinceStart++;
  const delay = faultDelayMs(faults, disturbance, performance.now());
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  try {
    // A plain buffer arrived as this thread's own copy and is used as is; a shared one is staged.
    let view = msg.input;
    if (view.buffer instanceof SharedArrayBuffer) {
      const n = view.length;
      if (staging.length < n) staging = new Float32Array(Math.max(n, staging.length * 2));
      view = staging.subarray(0, n);
      view.set(msg.input);
    }
    const t0 = performance.now();
    const out = await session!.run({ [inputName]: new ort.Tensor('float32', view, msg.shape) });
    const runMs = performance.now() - t0;
    const tensor = out[outputName]!;
    let data = tensor.data as Float32Array;
    if (!(data instanceof Float32Array)) throw new Error(`output ${outputName} is ${tensor.type}, expected float32`);
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength || !(data.buffer instanceof ArrayBuffer)) {
      data = data.slice();
    }
    port.send({ t: 'result', taskId: msg.taskId, output: data, shape: tensor.dims.slice(), runMs, injectedMs: delay, sentAt: performance.timeOrigin + performance.now() }, [data.buffer as ArrayBuffer]);
  } catch (e) {
    port.send({ t: 'error', taskId: msg.taskId, message: (e as Error).message });
  }
}

/**
 * One run on zeros before reporting ready, so that the first real query does not pay the setup;
 * returns how long a second run took (the engine's first estimate of a run's time), 0 on failure.
 */
async function warmUp(s: ort.InferenceSession): Promise<number> {
  const m = s.inputMetadata[0];
  if (!m || !m.isTensor || m.type !== 'float32') return 0;
  const dims = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  try {
    const feeds = { [inputName]: new ort.Tensor('float32', new Float32Array(n), dims) };
    await s.run(feeds);
    const t0 = performance.now();
    await s.run(feeds);
    return performance.now() - t0;
  } catch {
    // A model that cannot run on zeros still loads; its real queries report their own errors.
    return 0;
  }
}

/** This thread's OS id (Linux: /proc/thread-self links to /proc/PID/task/TID), null where unknown. */
function osThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : null;
  } catch {
    return null;
  }
}

let closing = false;

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  while (queue.length > 0 && !closing) await runOne(queue.shift()!);
  running = false;
  if (closing) void exitNow();
}

/**
 * Leaves between model runs, never inside one: a thread terminated while onnxruntime's binding
 * is in a call can abort the whole process (a C++ exception nobody catches).
 */
async function exitNow(): Promise<void> {
  if (heartbeat) clearInterval(heartbeat);
  if (contentionTimer) clearInterval(contentionTimer);
  try {
    await session?.release();
  } catch {
    // Exiting anyway.
  }
  process.exit(0);
}

port.onMessage((msg) => {
  switch (msg.t) {
    case 'init':
      faults = msg.faults;
      if (msg.nice > 0) {
        // setpriority(PRIO_PROCESS, 0) changes only the calling thread on Linux: this instance's
        // inference thread (onnxruntime runs single-threaded sessions on the caller's thread).
        // Relative to the process's own nice value, so a server started under `nice` keeps its
        // parity below its originals instead of raising it (root may lower a nice value).
        try {
          setPriority(Math.min(19, getPriority() + msg.nice));
        } catch {
          // Not permitted or not supported here: the instance still serves, at normal priority.
        }
      }
      void (async () => {
        try {
          session = await ort.InferenceSession.create(msg.modelPath, {
            intraOpNumThreads: msg.threads,
            interOpNumThreads: 1,
            executionMode: 'sequential',
          });
          inputName = session.inputNames[0]!;
          outputName = session.outputNames[0]!;
          const warmupMs = await warmUp(session);
          applyContention();
          heartbeat = setInterval(() => port.send({ t: 'hb' }), msg.heartbeatMs);
          port.send({ t: 'ready', ...sessionSignature(session), warmupMs, tid: osThreadId() });
        } catch (e) {
          port.send({ t: 'fatal', message: (e as Error).message });
        }
      })();
      break;
    case 'run':
      queue.push(msg);
      void drain();
      break;
    case 'faults':
      faults = msg.faults;
      runsSinceStart = 0;
      applyContention();
      break;
    case 'disturb':
      disturbance = { ...msg.disturbance, until: performance.now() + msg.disturbance.forMs };
      applyContention();
      break;
    case 'close':
      closing = true;
      queue.length = 0;
      if (!running) void exitNow();
      break;
  }
});

// A model instance on another host: an Open Inference Protocol v2 model endpoint (Triton, a
// KServe v2 predictor, or `parm worker`) that knows nothing about coding. Requests go over a
// keep-alive undici pool with the binary tensor extension; any failure (refused or reset
// connection, timeout, 5xx, a malformed or wrong-shaped answer) takes the instance down like a
// crashed local one, behind a circuit breaker that probes the endpoint's readiness with
// exponential backoff and rejoins by itself.
import { Pool } from 'undici';
import { encodeHttpBody, fp32Bytes, fp32Input, readHttpBody, readOutputTensor, type InferResponse } from '../wire/index.js';
import type { Clock, TimerHandle } from './clock.js';
import { faultDelayMs } from './faults.js';
import { HangDetector } from './hang-detector.js';
import { IdTable } from './id-table.js';
import type { EngineInstance, InstanceEvents, InstanceRole, InstanceSpec, InstanceState, ModelSignature } from './instance.js';
import type { Disturbance, InstanceFault, TensorMeta } from './instance-messages.js';
import type { InstanceHealth } from './types.js';

/** Where a remote instance runs, and how the frontend talks to it. */
export interface RemoteBackend {
  /** The model endpoint, http://HOST:PORT/v2/models/NAME[/versions/V]. */
  url: string;
  /** Requests in flight at once (1: the paper's pull model; more for servers that batch). */
  concurrency: number;
  /** A TCP connect that takes longer fails the request. */
  connectTimeoutMs: number;
  /** A request unanswered this long fails; undefined: the adaptive hang limit (hang-detector.ts). */
  requestTimeoutMs: number | undefined;
}

/** Circuit breaker: closed (serving), open (down, waiting to probe), half-open (probing). */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Backoff between probes of a down backend: 50 ms doubling to 5 s, reset by a successful answer. */
const PROBE_MIN_MS = 50;
const PROBE_MAX_MS = 5000;

/**
 * Requests in a row without any answer (abandoned ones included) after which, once the first of
 * them is older than the hang limit, the backend counts as down. Abandoning a request stops its
 * timeout, so without this a black-holed backend whose every request is reconstructed (and
 * aborted) from parity would never be marked down. Three, so that a lone request abandoned at a
 * light load, followed by a quiet spell, is not mistaken for a dead backend.
 */
const UNANSWERED_DOWN = 3;

const OIP_DTYPES: Record<string, string> = { FP32: 'float32', FP16: 'float16', FP64: 'float64', INT64: 'int64', INT32: 'int32', INT8: 'int8', UINT8: 'uint8', BOOL: 'bool' };

interface Running {
  /** The task's id. */
  readonly id: number;
  abort: AbortController;
  timer: TimerHandle | null;
  startedAt: number;
  /** Delay added on purpose before sending (a fault or a background disturbance). */
  injectedMs: number;
}

/** Parses an http(s) OIP model endpoint URL; throws a TypeError naming what is wrong. */
export function parseModelUrl(url: string): { origin: string; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`'${url}' is not a URL (expected http://HOST:PORT/v2/models/NAME[/versions/V])`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`'${url}': only http:// and https:// backends are supported`);
  const path = u.pathname.replace(/\/+$/, '');
  if (!/^\/v2\/models\/[^/]+(\/versions\/[^/]+)?$/.test(path)) throw new TypeError(`'${url}': the path must be /v2/models/NAME or /v2/models/NAME/versions/V`);
  if (u.search || u.hash) throw new TypeError(`'${url}': no query string or fragment`);
  return { origin: u.origin, path };
}

export class RemoteInstance implements EngineInstance {
  readonly spec: InstanceSpec;
  /** The model endpoint URL. */
  readonly backend: string;
  /** Lifecycle state; changed only by this class. */
  state: InstanceState = 'starting';
  /** Times it came back after being down. */
  restarts = 0;
  /** Runs finished with a result, across restarts (`parm_instance_runs_total`). */
  completedRuns = 0;
  /** A remote instance never gives up: a backend that comes back rejoins. */
  readonly gaveUp = false;
  /** Requests aborted because nobody needed their answer any more (abandon). */
  aborted = 0;
  private circuit: CircuitState = 'open';
  private readonly pool: Pool;
  private readonly path: string;
  private readonly cfg: RemoteBackend;
  /** Requests in flight, by engine task id. */
  /** Requests in flight by task id (not a Map: src/engine/id-table.ts says why). */
  private readonly running = new IdTable<Running>();
  private inputName = '';
  private outputName = '';
  /** Per sample: the output's shape without the batch dimension, and its floats. */
  private outputSample: number[] = [];
  private outElements = 0;
  private faults: InstanceFault[];
  private disturbance: (Disturbance & { until: number }) | null = null;
  private runsSinceStart = 0;
  /** Requests sent since the backend last answered anything, and when the first of them went. */
  private unanswered = 0;
  private unansweredSince = 0;
  private probeTimer: TimerHandle | null = null;
  private failuresSinceSuccess = 0;
  /** Bumped at every down and close, so that answers of an earlier connection are ignored. */
  private generation = 0;
  private closed = false;
  private readonly runs: HangDetector;
  private suspected = false;

  constructor(spec: InstanceSpec, backend: RemoteBackend, private readonly events: InstanceEvents, private readonly clock: Clock) {
    this.spec = spec;
    this.cfg = backend;
    this.backend = backend.url;
    const { origin, path } = parseModelUrl(backend.url);
    this.path = path;
    this.faults = spec.faults;
    this.runs = new HangDetector(backend.requestTimeoutMs);
    this.pool = new Pool(origin, {
      connections: backend.concurrency,
      pipelining: 1,
      connectTimeout: backend.connectTimeoutMs,
      keepAliveTimeout: 30_000,
      // The frontend's own timer bounds a request (adaptive); undici's would be fixed.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  get id(): string {
    return this.spec.id;
  }
  get role(): InstanceRole {
    return this.spec.role;
  }
  get row(): number {
    return this.spec.row;
  }
  get suspectedHung(): boolean {
    return this.suspected;
  }
  get freeSlots(): number {
    return this.circuit === 'closed' && (this.state === 'ready' || this.state === 'busy') ? this.cfg.concurrency - this.running.size : 0;
  }

  /** Reads the model metadata: the breaker closes when the endpoint answers with a usable signature. */
  start(): void {
    this.state = this.restarts > 0 ? 'restarting' : 'starting';
    this.circuit = 'half-open';
    const gen = this.generation;
    void this.probe().then(
      (signature) => {
        if (gen !== this.generation || this.closed) return;
        this.circuit = 'closed';
        this.state = 'ready';
        this.runsSinceStart = 0;
        this.events.onReady(this, signature);
      },
      (err: Error) => {
        if (gen !== this.generation || this.closed) return;
        this.down(`${this.backend}: ${err.message}`);
      },
    );
  }

  run(taskId: number, input: Float32Array, shape: number[]): void {
    const gen = this.generation;
    const r: Running = { id: taskId, abort: new AbortController(), timer: null, startedAt: this.clock.now(), injectedMs: 0 };
    const before = this.running.get(taskId);
    if (before) this.finish(taskId, before); // task ids are not reused; were one, its earlier run is let go
    this.running.add(r);
    this.state = 'busy';
    const crash = this.faults.find((f): f is Extract<InstanceFault, { kind: 'crash' }> => f.kind === 'crash');
    if (crash && this.runsSinceStart >= crash.afterQueries) {
      // Emulated on the frontend: the backend is taken down as if it had crashed.
      queueMicrotask(() => gen === this.generation && this.down('injected crash'));
      return;
    }
    this.runsSinceStart++;
    const limit = this.runs.hangLimitMs;
    r.timer = this.clock.setTimeout(() => {
      if (gen === this.generation && this.running.get(taskId) === r) this.down(`no answer within ${Math.round(limit)} ms`);
    }, limit);
    if (this.faults.some((f) => f.kind === 'hang')) return; // never sent: the timer above fires
    // The body copies the input (the engine's buffer may be shared memory, which undici cannot send).
    const header = JSON.stringify({
      inputs: [fp32Input(this.inputName, shape, input, true)],
      outputs: [{ name: this.outputName, parameters: { binary_data: true } }],
    });
    const { body, headerLength } = encodeHttpBody(header, [fp32Bytes(input)]);
    const send = (): void => void this.request(taskId, gen, r, body, headerLength, shape[0]!);
    const delay = faultDelayMs(this.faults, this.disturbance, this.clock.now());
    r.injectedMs = delay;
    if (delay > 0) this.clock.setTimeout(send, delay);
    else send();
  }

  /** Aborts a request whose answer nobody needs; the slot is free at once. */
  abandon(taskId: number): boolean {
    const r = this.running.get(taskId);
    if (!r) return false;
    this.finish(taskId, r);
    r.abort.abort();
    this.aborted++;
    return true;
  }

  setFaults(faults: InstanceFault[]): void {
    this.faults = faults;
    this.runsSinceStart = 0;
  }

  /** Background load on a remote instance: `delay` is added before each request it sends meanwhile. */
  disturb(d: Disturbance): void {
    this.disturbance = { ...d, until: this.clock.now() + d.forMs };
  }

  checkAlive(now: number): void {
    if (this.unanswered >= UNANSWERED_DOWN && now - this.unansweredSince > this.runs.hangLimitMs && (this.state === 'ready' || this.state === 'busy')) {
      const gen = this.generation;
      const n = this.unanswered;
      const ms = Math.round(now - this.unansweredSince);
      queueMicrotask(() => gen === this.generation && this.down(`no answer to the last ${n} requests in ${ms} ms`));
      return;
    }
    let suspected = false;
    const limit = this.runs.suspectLimitMs;
    for (const r of this.running.values()) if (now - r.startedAt > limit) suspected = true;
    this.suspected = suspected;
  }

  health(): InstanceHealth {
    return {
      id: this.id,
      role: this.role,
      state: this.state,
      restarts: this.restarts,
      completedRuns: this.completedRuns,
      inFlight: this.running.size,
      suspectedHung: this.suspected,
      recentRunMs: this.runs.medianMs,
      backend: this.backend,
      circuit: this.circuit,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    this.clock.clearTimeout(this.probeTimer);
    for (const r of [...this.running.values()]) {
      this.finish(r.id, r);
      r.abort.abort();
    }
    this.state = 'down';
    await this.pool.close().catch(() => undefined);
  }

  /**
   * The half-open probe: the model's readiness (`/ready`), then its metadata, checked for what a
   * frontend needs (one input and one output tensor, named, typed and shaped).
   */
  private async probe(): Promise<ModelSignature> {
    const signal = AbortSignal.timeout(Math.max(this.cfg.connectTimeoutMs, 1000) * 2);
    const ready = await this.pool.request({ path: `${this.path}/ready`, method: 'GET', signal });
    await ready.body.dump();
    if (ready.statusCode !== 200) throw new Error(`model not ready: HTTP ${ready.statusCode} on ${this.path}/ready`);
    const res = await this.pool.request({ path: this.path, method: 'GET', signal });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`model metadata: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    let meta: { inputs?: { name?: unknown; datatype?: unknown; shape?: unknown }[]; outputs?: { name?: unknown; datatype?: unknown; shape?: unknown }[] };
    try {
      meta = JSON.parse(text) as typeof meta;
    } catch {
      throw new Error(`model metadata is not JSON: ${text.slice(0, 80)}`);
    }
    const tensors = (list: typeof meta.inputs, what: string): TensorMeta[] => {
      if (!Array.isArray(list) || list.length === 0) throw new Error(`model metadata has no ${what}`);
      return list.map((t, i) => {
        if (typeof t?.name !== 'string' || typeof t.datatype !== 'string' || !Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d))) {
          throw new Error(`model metadata ${what}[${i}] needs a name, a datatype and an integer shape`);
        }
        return { name: t.name, shape: (t.shape as number[]).map((d) => (d < 0 ? -1 : d)), type: OIP_DTYPES[t.datatype] ?? t.datatype };
      });
    };
    const signature: ModelSignature = { inputs: tensors(meta.inputs, 'inputs'), outputs: tensors(meta.outputs, 'outputs') };
    this.inputName = signature.inputs[0]!.name;
    this.outputName = signature.outputs[0]!.name;
    this.outputSample = signature.outputs[0]!.shape.slice(1);
    this.outElements = this.outputSample.reduce((a, b) => a * Math.max(b, 0), 1);
    return signature;
  }

  private async request(taskId: number, gen: number, r: Running, body: Uint8Array, headerLength: number, batch: number): Promise<void> {
    if (this.unanswered++ === 0) this.unansweredSince = this.clock.now();
    let status = 0;
    let bytes: Uint8Array;
    let headerLen: string | undefined;
    try {
      const res = await this.pool.request({
        path: `${this.path}/infer`,
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) },
        body,
        signal: r.abort.signal,
      });
      status = res.statusCode;
      if (gen === this.generation) this.unanswered = 0;
      const h = res.headers['inference-header-content-length'];
      headerLen = Array.isArray(h) ? h[0] : h;
      bytes = new Uint8Array(await res.body.arrayBuffer());
    } catch (err) {
      if (gen === this.generation && this.running.get(taskId) === r) this.down(`request failed: ${(err as Error).message}`);
      return;
    }
    if (gen !== this.generation || this.running.get(taskId) !== r) return; // abandoned, or from before a down
    const answer = this.readAnswer(status, bytes, headerLen, batch);
    if (answer.kind === 'down') {
      this.down(answer.reason);
      return;
    }
    this.finish(taskId, r);
    if (answer.kind !== 'result') {
      this.events.onTaskError(this, taskId, answer.reason);
      return;
    }
    this.runs.add(this.clock.now() - r.startedAt);
    this.completedRuns++;
    this.failuresSinceSuccess = 0;
    this.events.onResult(this, taskId, answer.output, [batch, ...this.outputSample], r.injectedMs);
  }

  /** Classifies an answer: a result, a refusal of this input (400), or a failed backend. */
  private readAnswer(status: number, bytes: Uint8Array, headerLength: string | undefined, batch: number):
    | { kind: 'result'; output: Float32Array }
    | { kind: 'task-error' | 'down'; reason: string } {
    const text = (): string => new TextDecoder().decode(bytes.subarray(0, 200));
    if (status === 400) return { kind: 'task-error', reason: `${this.backend} refused the request: ${text()}` };
    if (status !== 200) return { kind: 'down', reason: `HTTP ${status}: ${text()}` };
    try {
      const msg = readHttpBody(bytes, headerLength, 'response body');
      const out = readOutputTensor(msg.header as Partial<InferResponse>, msg.tensors, this.outputName);
      if (!out) return { kind: 'down', reason: 'the answer has no outputs' };
      const want = batch * this.outElements;
      if (out.data.length !== want) return { kind: 'down', reason: `the answer has ${out.data.length} floats, expected ${want} (shape [${batch}, ${this.outputSample}])` };
      return { kind: 'result', output: out.data };
    } catch (err) {
      return { kind: 'down', reason: `malformed answer: ${(err as Error).message}` };
    }
  }

  private finish(taskId: number, r: Running): void {
    this.clock.clearTimeout(r.timer);
    if (this.running.get(taskId) === r) this.running.delete(taskId);
    if (this.state === 'busy' && this.running.size === 0) this.state = 'ready';
    if (this.running.size === 0) this.suspected = false;
  }

  /** The breaker opens: every request in flight fails, and a probe is scheduled with backoff. */
  private down(reason: string): void {
    if (this.closed) return;
    this.generation++;
    const held = [...this.running.values()].sort((a, b) => a.id - b.id);
    const tasks = held.map((r) => r.id);
    for (const r of held) {
      this.finish(r.id, r);
      r.abort.abort();
    }
    this.circuit = 'open';
    this.state = 'down';
    this.suspected = false;
    this.unanswered = 0;
    this.events.onDown(this, tasks, reason);
    const backoff = Math.min(PROBE_MIN_MS * 2 ** this.failuresSinceSuccess, PROBE_MAX_MS);
    this.failuresSinceSuccess++;
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = null;
      this.restarts++;
      this.start();
    }, backoff, true);
  }
}

// A model instance on this host: an onnxruntime-node session in a worker thread or a child process
// (instance-worker.ts). Sends it one task at a time, notices exits and silences, and restarts it
// with exponential backoff. The default InstanceFactory of the engine builds these.
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { Clock } from './clock.js';
import { HangDetector } from './hang-detector.js';
import { RemoteInstance } from './remote-instance.js';
import type { EngineInstance, InstanceEvents, InstanceRole, InstanceSpec, InstanceState } from './instance.js';
import type { Disturbance, FromInstance, InstanceFault, ToInstance } from './instance-messages.js';
import type { InstanceHealth } from './types.js';
import { quietThreadHeaps } from './thread-heap.js';

/**
 * The worker entry next to this file, with this file's own extension: `.ts` when tests run the
 * sources through tap's loader, `.js` in the compiled package (dist/).
 */
export const WORKER_URL = new URL(`./instance-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * The parent's node flags that instances inherit: loaders (`--import`, `--loader`, `--require`)
 * and runtime options pass; flags that only make sense for the parent's own entry (`--eval`,
 * `--print`, `--input-type`, `--test`, `--watch`, `--inspect*` with its port) are dropped.
 */
export function instanceExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  const withValue = new Set(['-e', '--eval', '-p', '--print', '--input-type']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (withValue.has(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    if (/^--(test|watch|inspect)/.test(name)) continue;
    out.push(a);
  }
  return out;
}

/**
 * A worker thread with the parent's flags. Worker threads refuse V8 and process-wide flags
 * (`--trace-gc`, `--max-old-space-size`, ...: ERR_WORKER_INVALID_EXEC_ARGV); those already apply to
 * every thread of the process, so on that refusal the thread starts with the loader flags alone.
 * Its heap has no memory reducer (thread-heap.ts says why).
 */
export function newThread(url: URL, options: Omit<WorkerOptions, 'execArgv'> = {}): Worker {
  quietThreadHeaps();
  const argv = instanceExecArgv();
  try {
    return new Worker(url, { ...options, execArgv: argv });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    return new Worker(url, { ...options, execArgv: loaderFlags(argv) });
  }
}

/** The flags of `argv` that load code (loaders, preloads, conditions, source maps, warnings). */
export function loaderFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  const withValue = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r', '--conditions', '-C']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (withValue.has(name)) {
      out.push(a);
      if (!a.includes('=') && i + 1 < argv.length) out.push(argv[++i]!);
    } else if (/^--(enable-source-maps|no-warnings|experimental-)/.test(name)) {
      out.push(a);
    }
  }
  return out;
}

/** An instance that has not loaded its model after this long is replaced (counts as a failed start). */
export const START_TIMEOUT_MS = 60_000;
/** How long a closing instance thread may take to finish its run and leave before it is terminated. */
export const CLOSE_GRACE_MS = 2000;

export class LocalInstance implements EngineInstance {
  readonly spec: InstanceSpec;
  /** Lifecycle state; changed only by this class (start, run, handle, fail, close). */
  state: InstanceState = 'starting';
  /** Restarts so far (counted when a restart begins). */
  restarts = 0;
  /** Runs finished with a result, across restarts (`parm_instance_runs_total`). */
  completedRuns = 0;
  /** True once the instance stopped restarting (its model kept failing to start). */
  gaveUp = false;
  /** Task id being run, or null when idle. */
  private current: number | null = null;
  /** Faults sent with every (re)start; replaced by setFaults. */
  private faults: InstanceFault[];
  /** The running worker thread or child process; null while down. */
  private worker: Worker | ChildProcess | null = null;
  /** Clock time of the last message from the worker (or of the last start / run). */
  private lastSeen = 0;
  /** Clock time the current task was sent. */
  private runStartedAt = 0;
  /** Recent run times: the adaptive hang limit and the suspicion threshold. */
  private readonly runs: HangDetector;
  /** The current run has lasted past the suspicion threshold (set by checkAlive). */
  private suspected = false;
  /** OS thread id of the model's thread, as the worker last reported it (Linux). */
  private tid: number | null = null;
  private startFailures = 0;
  /** Failures (crash, hang, failed start) since the last successful task: drives the backoff. */
  private failuresSinceSuccess = 0;
  /** Bumped whenever the worker is replaced, so that a dead worker's late events are ignored. */
  private generation = 0;
  private restartTimer: ReturnType<Clock['setTimeout']> | null = null;
  private closing = false;
  private readonly events: InstanceEvents;
  private readonly clock: Clock;

  constructor(spec: InstanceSpec, events: InstanceEvents, clock: Clock) {
    this.spec = spec;
    this.faults = spec.faults;
    this.events = events;
    this.clock = clock;
    this.runs = new HangDetector(spec.hangTimeoutMs);
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

  /** Local: no backend URL. */
  get backend(): undefined {
    return undefined;
  }

  get suspectedHung(): boolean {
    return this.suspected;
  }

  /** One task at a time: a slot when ready and not running anything. */
  get freeSlots(): number {
    return this.state === 'ready' && this.current === null ? 1 : 0;
  }

  health(): InstanceHealth {
    const h: InstanceHealth = {
      id: this.id,
      role: this.spec.role,
      state: this.state,
      restarts: this.restarts,
      completedRuns: this.completedRuns,
      inFlight: this.current === null ? 0 : 1,
      suspectedHung: this.suspected,
      recentRunMs: this.runs.medianMs,
    };
    if (this.tid !== null) h.tid = this.tid;
    if (this.worker && !(this.worker instanceof Worker) && this.worker.pid !== undefined) h.pid = this.worker.pid;
    return h;
  }

  start(): void {
    const gen = ++this.generation;
    this.state = this.restarts > 0 ? 'restarting' : 'starting';
    this.current = null;
    this.lastSeen = this.clock.now();
    const onMessage = (m: FromInstance): void => {
      if (gen === this.generation) this.handle(m);
    };
    const onExit = (code: number | null): void => {
      if (gen === this.generation) this.fail(`exited with code ${code}`);
    };
    if (this.spec.isolation === 'process') {
      const child = fork(fileURLToPath(WORKER_URL), [], {
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: instanceExecArgv(),
      });
      child.on('message', (m) => onMessage(m as FromInstance));
      child.on('exit', (code) => onExit(code));
      child.on('error', (e) => {
        if (gen === this.generation) this.fail(e.message);
      });
      this.worker = child;
    } else {
      const w = newThread(WORKER_URL);
      w.on('message', onMessage);
      w.on('exit', onExit);
      w.on('error', (e) => {
        if (gen === this.generation) this.fail(e.message);
      });
      this.worker = w;
    }
    this.post({ t: 'init', modelPath: this.spec.modelPath ?? '', threads: this.spec.threads, heartbeatMs: this.spec.heartbeatMs, nice: this.spec.nice, faults: this.faults });
  }

  /** Send one task. `input` may be a SharedArrayBuffer view: threads share it, processes get a copy. */
  run(taskId: number, input: Float32Array, shape: number[]): void {
    this.current = taskId;
    this.state = 'busy';
    this.lastSeen = this.runStartedAt = this.clock.now();
    const data = this.spec.isolation === 'process' && input.buffer instanceof SharedArrayBuffer ? input.slice() : input;
    this.post({ t: 'run', taskId, input: data, shape });
  }

  /** A model run cannot be stopped midway: the result comes and the engine drops it. */
  abandon(): boolean {
    return false;
  }

  setFaults(faults: InstanceFault[]): void {
    this.faults = faults;
    if (this.state !== 'down' && this.state !== 'restarting') this.post({ t: 'faults', faults });
  }

  disturb(d: Disturbance): void {
    if (this.state === 'ready' || this.state === 'busy') this.post({ t: 'disturb', disturbance: d });
  }

  /**
   * Called periodically with the engine clock: a run past the suspicion threshold is reported as
   * suspected hung; silence or a run past the hang limit declares the instance hung and replaces it.
   */
  checkAlive(now: number): void {
    if (this.closing || this.state === 'down' || (this.state === 'restarting' && this.worker === null)) return;
    // Loading a model (and, under tests, a TypeScript loader) legitimately takes longer than a run.
    const starting = this.state === 'starting' || this.state === 'restarting';
    const hang = this.runs.hangLimitMs;
    const limit = starting ? Math.max(hang, START_TIMEOUT_MS) : Math.max(hang, 4 * this.spec.heartbeatMs);
    this.suspected = this.current !== null && now - this.runStartedAt > this.runs.suspectLimitMs;
    if (now - this.lastSeen > limit) {
      this.fail(`no heartbeat or result for ${Math.round(now - this.lastSeen)} ms (${starting ? 'start' : 'hang'} timeout ${Math.round(limit)} ms)`);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.clock.clearTimeout(this.restartTimer);
    this.generation++;
    const w = this.worker;
    this.worker = null;
    this.state = 'down';
    if (!w) return;
    if (w instanceof Worker) {
      // Asked to leave between runs first (terminating a thread inside onnxruntime's binding can
      // abort the process); terminated if it has not left within CLOSE_GRACE_MS (a hung run).
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      try {
        w.postMessage({ t: 'close' } satisfies ToInstance);
      } catch {
        // Already gone.
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceful = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      if (!graceful) await w.terminate();
    } else if (w.exitCode === null && w.signalCode === null) {
      await new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.kill('SIGKILL');
      });
    }
  }

  private post(m: ToInstance): void {
    const w = this.worker;
    if (!w) return;
    try {
      if (w instanceof Worker) w.postMessage(m);
      else if (w.connected) w.send(m);
    } catch (e) {
      this.fail(`could not send to instance: ${(e as Error).message}`);
    }
  }

  private handle(m: FromInstance): void {
    this.lastSeen = this.clock.now();
    switch (m.t) {
      case 'ready':
        this.state = 'ready';
        this.startFailures = 0;
        if (m.warmupMs > 0) this.runs.add(m.warmupMs);
        this.tid = m.tid;
        this.events.onReady(this, { inputs: m.inputs, outputs: m.outputs });
        break;
      case 'fatal':
        // A model that fails to load on the very first start is a configuration error: no retries.
        if (this.restarts === 0 && this.state === 'starting') this.startFailures = this.spec.maxStartFailures - 1;
        this.fail(`model failed to load: ${m.message}`);
        break;
      case 'result':
        if (m.taskId === this.current) {
          this.current = null;
          this.state = 'ready';
          this.suspected = false;
          this.runs.add(this.clock.now() - this.runStartedAt);
          this.completedRuns++;
          this.failuresSinceSuccess = 0;
          this.events.onResult(this, m.taskId, m.output, m.shape, m.injectedMs, this.clock.fromTimeLine?.(m.sentAt));
        }
        break;
      case 'error':
        if (m.taskId === this.current) {
          this.current = null;
          this.state = 'ready';
          this.suspected = false;
          this.events.onTaskError(this, m.taskId, m.message);
        }
        break;
      case 'hb':
        break;
    }
  }

  /** Tear down the current worker, report its task, and schedule a restart with backoff. */
  private fail(reason: string): void {
    if (this.closing) return;
    if (this.state === 'starting' || this.state === 'restarting') this.startFailures++;
    const task = this.current;
    this.current = null;
    this.suspected = false;
    this.generation++;
    const w = this.worker;
    this.worker = null;
    if (w instanceof Worker) void w.terminate();
    else if (w && w.exitCode === null) w.kill('SIGKILL');
    this.state = 'down';
    this.events.onDown(this, task === null ? [] : [task], reason);
    if (this.startFailures >= this.spec.maxStartFailures) {
      this.gaveUp = true;
      this.events.onGaveUp(this, reason);
      return;
    }
    // Backoff doubles with each failure since the last successful task: 50 ms, 100 ms, ... 5 s.
    const backoff = Math.min(50 * 2 ** this.failuresSinceSuccess, 5000);
    this.failuresSinceSuccess++;
    this.state = 'restarting';
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = null;
      this.restarts++;
      this.start();
    }, backoff);
  }
}

/** The engine's default InstanceFactory: a RemoteInstance for a spec with a backend, else a LocalInstance. */
export function defaultInstanceFactory(spec: InstanceSpec, events: InstanceEvents, clock: Clock): EngineInstance {
  return spec.backend ? new RemoteInstance(spec, spec.backend, events, clock) : new LocalInstance(spec, events, clock);
}

// The serving engine: accepts queries, forms coding groups, dispatches data and parity tasks to
// instances, decodes missing outputs, runs the baselines, and answers every query exactly once.
import * as codec from '../codec/index.js';
import { ParmError, type ErrorCode } from '../errors.js';
import { BackgroundSchedule, backgroundTargets } from './background.js';
import { checkInput } from './input.js';
import { Instance, type InstanceEvents } from './instance.js';
import { Counters, Latencies } from './metrics.js';
import { deployedInstanceCount, resolveOptions, validateDecode, validateFaults, type ResolvedOptions } from './options.js';
import type { InstanceFault, TensorMeta } from './protocol.js';
import { TaskQueue } from './queue.js';
import type { DecodePolicy, Engine, EngineMetrics, EngineOptions, FaultSpec, InferOptions, InferResult, ModelInfo, TensorInput } from './types.js';

/** pino-compatible subset; the engine logs instance failures and restarts only. */
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface EngineRuntime {
  logger?: EngineLogger;
  /** Base directory for relative model paths (default: the current directory). */
  baseDir?: string;
}

/** Largest batch a single `infer` call may carry. */
const MAX_SAMPLES_PER_QUERY = 65_536;

interface Query {
  id: number;
  units: Unit[];
  acceptedAt: number;
  deadlineAt: number;
  decode: DecodePolicy;
  batched: boolean;
  remaining: number;
  answered: boolean;
  reconstructed: boolean;
  instance: string;
  resolve(r: InferResult): void;
  reject(e: Error): void;
  timers: NodeJS.Timeout[];
}

/** One sample: the unit of coding. A query of n samples has n units. */
interface Unit {
  query: Query;
  /** `elements` floats; a view on a SharedArrayBuffer shared read-only with worker threads. */
  input: Float32Array;
  /** The answer given for this unit (original or reconstruction). */
  output: Float32Array | null;
  /** The deployed model's own output, once it arrived (also when late). */
  original: Float32Array | null;
  /** A decoded output waiting for the deadline policy. */
  recon: Float32Array | null;
  reconBy: string;
  group: Group | null;
  /** Data tasks carrying this unit (an original, retries, hedges). */
  tasks: Set<Task>;
  retries: number;
}

interface Group {
  id: number;
  members: Unit[];
  /** Parity output per row (null until it arrives). */
  parity: (Float32Array | null)[];
  parityBy: string[];
  /** Effective coefficients per row over `members` (replica padding folds slots together). */
  coefficients: number[][];
  parityTasks: Task[];
}

interface Task {
  id: number;
  role: 'deployed' | 'parity';
  row: number;
  units: Unit[];
  groups: Group[];
  input: Float32Array;
  batch: number;
  state: 'queued' | 'running' | 'done' | 'cancelled';
  queue: TaskQueue<Task> | null;
  instance: Instance | null;
  attempt: number;
  hedgeOf: Task | null;
  hedgeTimer: NodeJS.Timeout | null;
}

function allocF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

function err(code: ErrorCode, message: string): ParmError {
  return new ParmError(code, message);
}

export class ParmEngine implements Engine {
  readonly options: Readonly<EngineOptions>;
  info!: ModelInfo;
  private readonly o: ResolvedOptions;
  private readonly log: EngineLogger | undefined;
  private readonly counters = new Counters();
  private readonly latencies = new Latencies();
  private readonly deployed: Instance[] = [];
  private readonly parity: Instance[][] = [];
  private readonly deployedQueue = new TaskQueue<Task>();
  private readonly parityQueues: TaskQueue<Task>[] = [];
  /** Round-robin balancing: one queue per instance. */
  private readonly ownQueues = new Map<Instance, TaskQueue<Task>>();
  private rr = 0;
  private readonly tasks = new Map<number, Task>();
  private nextTask = 1;
  private nextQuery = 1;
  private nextGroup = 1;
  private pending = 0;
  private readonly pendingQueries = new Set<Query>();
  private closing = false;
  private closed = false;
  private readyFlag = false;
  private readyPromise: Promise<void>;
  private sampleShape: number[] = [];
  private outputSample: number[] = [];
  private elements = 0;
  private outElements = 0;
  private batchUnits: Unit[] = [];
  private batchTimer: NodeJS.Timeout | null = null;
  /** Closed batches waiting for their coding window to fill (parm mode), with their task inputs. */
  private window: { units: Unit[]; input: Float32Array }[] = [];
  private windowTimer: NodeJS.Timeout | null = null;
  private aliveTimer: NodeJS.Timeout | null = null;
  private backgroundTimer: NodeJS.Timeout | null = null;
  private faultSpecs: FaultSpec[];
  private drainWaiters: (() => void)[] = [];

  constructor(options: EngineOptions, runtime: EngineRuntime = {}) {
    this.o = resolveOptions(options, runtime.baseDir);
    this.options = Object.freeze({ ...options });
    this.log = runtime.logger;
    this.faultSpecs = this.o.faults;
    const o = this.o;
    const deployedCount = deployedInstanceCount(o);
    const events = this.instanceEvents();
    const mk = (id: string, role: 'deployed' | 'parity', row: number, modelPath: string): Instance =>
      new Instance(
        {
          id,
          role,
          row,
          modelPath,
          threads: o.threadsPerSession,
          isolation: o.isolation,
          heartbeatMs: o.heartbeatMs,
          hangTimeoutMs: o.hangTimeoutMs,
          nice: role === 'parity' ? o.parityNice : 0,
          maxStartFailures: 5,
        },
        [],
        events,
      );
    for (let i = 0; i < deployedCount; i++) this.deployed.push(mk(`deployed-${i}`, 'deployed', 0, o.deployedModel));
    if (o.mode === 'parm') {
      o.parityModels.forEach((p, row) => {
        const list: Instance[] = [];
        for (let i = 0; i < o.parityInstances; i++) list.push(mk(`parity-${row * o.parityInstances + i}`, 'parity', row, p.path));
        this.parity.push(list);
        this.parityQueues.push(new TaskQueue<Task>());
      });
    }
    for (const inst of this.allInstances()) {
      inst.faults = this.faultsFor(inst);
      if (o.balancing === 'round-robin') this.ownQueues.set(inst, new TaskQueue<Task>());
    }
    this.readyPromise = this.startAll();
    this.readyPromise.catch(() => undefined);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private pendingStarts = new Map<Instance, { resolve(): void; reject(e: Error): void }>();
  private metas = new Map<Instance, { inputs: TensorMeta[]; outputs: TensorMeta[] }>();

  private async startAll(): Promise<void> {
    const all = this.allInstances();
    const started = all.map(
      (inst) =>
        new Promise<void>((resolve, reject) => {
          this.pendingStarts.set(inst, { resolve, reject });
        }),
    );
    for (const inst of all) inst.start();
    await Promise.all(started);
    this.checkModels();
    this.readyFlag = true;
    this.aliveTimer = setInterval(() => {
      const now = performance.now();
      for (const inst of this.allInstances()) inst.checkAlive(now);
    }, Math.max(10, Math.min(this.o.heartbeatMs, this.o.hangTimeoutMs / 4)));
    this.aliveTimer.unref();
    if (this.o.background) this.startBackground();
    this.pump();
  }

  private checkModels(): void {
    const d = this.metas.get(this.deployed[0]!)!;
    const inp = d.inputs[0];
    const out = d.outputs[0];
    if (!inp || !out) throw err('PARM_ERR_ENGINE_MODEL', `${this.o.deployedModel}: the model needs one input and one output`);
    if (inp.type !== 'float32' || out.type !== 'float32') {
      throw err('PARM_ERR_ENGINE_MODEL', `${this.o.deployedModel}: input and output must be float32 (got ${inp.type}, ${out.type})`);
    }
    this.sampleShape = inp.shape.slice(1);
    this.outputSample = out.shape.slice(1);
    if (inp.shape[0] !== -1 || this.sampleShape.some((x) => x < 1) || this.outputSample.some((x) => x < 1)) {
      throw err(
        'PARM_ERR_ENGINE_MODEL',
        `${this.o.deployedModel}: expected a dynamic batch dimension and fixed others (input [${inp.shape}], output [${out.shape}])`,
      );
    }
    this.elements = this.sampleShape.reduce((a, b) => a * b, 1);
    this.outElements = this.outputSample.reduce((a, b) => a * b, 1);
    for (const [row, list] of this.parity.entries()) {
      const p = this.metas.get(list[0]!)!;
      const same = (a: number[] | undefined, b: number[]): boolean => !!a && a.length === b.length && a.every((x, i) => x === b[i]);
      if (!same(p.inputs[0]?.shape, inp.shape) || !same(p.outputs[0]?.shape, out.shape)) {
        throw err('PARM_ERR_ENGINE_CONFIG', `parityModels[${row}]: its input/output shapes must equal the deployed model's ([${inp.shape}] -> [${out.shape}])`);
      }
    }
    if (this.o.mode === 'parm' && this.o.encoder === 'concat' && this.sampleShape.length !== 3) {
      throw err('PARM_ERR_ENGINE_CONFIG', `encoder: concat needs an image input [-1, C, H, W], got [${inp.shape}]`);
    }
    this.info = {
      name: this.o.name,
      version: this.o.version,
      platform: 'onnxruntime',
      inputs: [{ name: inp.name, datatype: 'FP32', shape: inp.shape }],
      outputs: [{ name: out.name, datatype: 'FP32', shape: out.shape }],
    };
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  isReady(): boolean {
    return this.readyFlag && !this.closing && !this.deployed.every((i) => i.gaveUp);
  }

  private closePromise: Promise<void> | null = null;

  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.backgroundTimer) clearTimeout(this.backgroundTimer);
    this.flushBatch();
    if (this.pending > 0) {
      const drained = new Promise<void>((r) => this.drainWaiters.push(r));
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((r) => (t = setTimeout(r, this.o.closeTimeoutMs)));
      await Promise.race([drained, timeout]);
      clearTimeout(t);
    }
    for (const q of [...this.pendingQueries]) this.failQuery(q, err('PARM_ERR_ENGINE_CLOSED', 'the engine closed before this query was answered'));
    this.closed = true;
    this.readyFlag = false;
    if (this.aliveTimer) clearInterval(this.aliveTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    if (this.windowTimer) clearTimeout(this.windowTimer);
    for (const [, s] of this.pendingStarts) s.reject(err('PARM_ERR_ENGINE_CLOSED', 'the engine closed while starting'));
    await Promise.all(this.allInstances().map((i) => i.close()));
  }

  // ---- queries ---------------------------------------------------------------------------------

  infer(input: Float32Array | TensorInput, options: InferOptions = {}): Promise<InferResult> {
    try {
      if (this.closing) throw err('PARM_ERR_ENGINE_CLOSED', 'the engine is closing');
      if (!this.readyFlag) throw err('PARM_ERR_ENGINE_NOT_READY', 'the engine is still loading its models');
      if (this.deployed.every((i) => i.gaveUp)) throw err('PARM_ERR_ENGINE_MODEL', 'every deployed-model instance failed to restart');
      if (this.pending >= this.o.maxPending) {
        throw err('PARM_ERR_ENGINE_OVERLOADED', `${this.pending} queries pending (maxPending ${this.o.maxPending})`);
      }
      let decode: DecodePolicy;
      try {
        decode = validateDecode('options.decode', options.decode, this.o.decode);
      } catch (e) {
        throw err('PARM_ERR_ENGINE_INPUT', (e as Error).message);
      }
      if (options.timeoutMs !== undefined && !(typeof options.timeoutMs === 'number' && options.timeoutMs > 0)) {
        throw err('PARM_ERR_ENGINE_INPUT', `options.timeoutMs: expected a positive number (got ${String(options.timeoutMs)})`);
      }
      const c = checkInput(input, this.sampleShape, MAX_SAMPLES_PER_QUERY);
      return this.accept(c.data, c.n, c.batched, decode, options.timeoutMs);
    } catch (e) {
      this.counters.rejected++;
      if (e instanceof ParmError && e.code === 'PARM_ERR_CODEC_ARGUMENT') return Promise.reject(err('PARM_ERR_ENGINE_INPUT', e.message));
      return Promise.reject(e);
    }
  }

  private accept(data: Float32Array, n: number, batched: boolean, decode: DecodePolicy, timeoutMs: number | undefined): Promise<InferResult> {
    const E = this.elements;
    // One copy at acceptance: the caller may reuse its buffer at once, and worker threads read this one.
    const buf = allocF32(n * E);
    buf.set(data);
    const now = performance.now();
    return new Promise<InferResult>((resolve, reject) => {
      const q: Query = {
        id: this.nextQuery++,
        units: [],
        acceptedAt: now,
        deadlineAt: decode.kind === 'deadline' ? now + decode.waitMs : now,
        decode,
        batched,
        remaining: n,
        answered: false,
        reconstructed: false,
        instance: '',
        resolve,
        reject,
        timers: [],
      };
      for (let i = 0; i < n; i++) {
        q.units.push({
          query: q,
          input: buf.subarray(i * E, (i + 1) * E),
          output: null,
          original: null,
          recon: null,
          reconBy: '',
          group: null,
          tasks: new Set(),
          retries: 0,
        });
      }
      this.pending++;
      this.pendingQueries.add(q);
      this.counters.queries++;
      if (timeoutMs !== undefined) {
        q.timers.push(setTimeout(() => this.failQuery(q, err('PARM_ERR_ENGINE_TIMEOUT', `no answer within ${timeoutMs} ms`)), timeoutMs));
      }
      if (decode.kind === 'deadline' && decode.waitMs > 0) {
        q.timers.push(setTimeout(() => this.onDeadline(q), decode.waitMs));
      }
      if (this.o.batching) {
        for (const u of q.units) this.batchUnits.push(u);
        if (this.batchUnits.length >= this.o.batching.maxBatch) this.flushBatch();
        else if (!this.batchTimer) this.batchTimer = setTimeout(() => this.flushBatch(), this.o.batching.maxDelayMs);
      } else {
        for (const u of q.units) this.dispatchBatch([u]);
      }
      this.pump();
    });
  }

  private flushBatch(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = null;
    const max = this.o.batching ? this.o.batching.maxBatch : 1;
    while (this.batchUnits.length > 0) this.dispatchBatch(this.batchUnits.splice(0, max));
    this.pump();
  }

  /** A closed batch of units becomes one data task; in parm mode it also joins the coding window. */
  private dispatchBatch(units: Unit[]): void {
    const task = this.newDataTask(units, 0);
    this.enqueue(task, false);
    if (this.o.mode !== 'parm') return;
    this.window.push({ units, input: task.input });
    if (this.window.length >= this.o.k) this.closeWindow();
    else if (!this.windowTimer) this.windowTimer = setTimeout(() => this.closeWindow(), this.o.groupWaitMs);
  }

  private newDataTask(units: Unit[], attempt: number, hedgeOf: Task | null = null): Task {
    const E = this.elements;
    let input: Float32Array;
    if (units.length === 1) {
      input = units[0]!.input;
    } else {
      input = allocF32(units.length * E);
      units.forEach((u, i) => input.set(u.input, i * E));
    }
    const t: Task = {
      id: this.nextTask++,
      role: 'deployed',
      row: 0,
      units,
      groups: [],
      input,
      batch: units.length,
      state: 'queued',
      queue: null,
      instance: null,
      attempt,
      hedgeOf,
      hedgeTimer: null,
    };
    for (const u of units) u.tasks.add(t);
    this.tasks.set(t.id, t);
    return t;
  }

  /**
   * The k batches of the window (batch size 1 without batching) form coding groups position-wise:
   * group i holds sample i of every batch (the paper's parity over batches), so one slow batch
   * loses at most one member of each group.
   */
  private closeWindow(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = null;
    const batches = this.window.map((w) => w.units);
    const batchInputs = this.window.map((w) => w.input);
    this.window = [];
    if (batches.length === 0) return;
    const k = this.o.k;
    const maxLen = Math.max(...batches.map((b) => b.length));
    const groups: Group[] = [];
    for (let i = 0; i < maxLen; i++) {
      const members = batches.filter((b) => i < b.length).map((b) => b[i]!);
      if (members.every((m) => m.output !== null || m.query.answered)) continue; // nothing left to protect
      const partial = members.length < k;
      if (partial && this.o.partialGroup === 'unprotected') {
        this.counters.unprotected += members.length;
        this.counters.partialGroups++;
        continue;
      }
      if (partial) this.counters.partialGroups++;
      this.counters.groups++;
      const n = members.length;
      // Slot s of the k holds member s % n; a member's effective coefficient sums its slots.
      const coefficients = this.o.parityModels.map((p) => {
        const eff = new Array<number>(n).fill(0);
        for (let s = 0; s < k; s++) eff[s % n]! += p.coefficients[s]!;
        return eff;
      });
      const g: Group = { id: this.nextGroup++, members, parity: this.o.parityModels.map(() => null), parityBy: [], coefficients, parityTasks: [] };
      for (const m of members) m.group = g;
      groups.push(g);
    }
    const rowsUp = this.o.parityModels.map((_, row) => !this.parity[row]!.every((i) => i.gaveUp));
    if (groups.length > 0 && !rowsUp.some(Boolean)) {
      for (const g of groups) for (const m of g.members) m.group = null;
      this.counters.unprotected += groups.reduce((a, g) => a + g.members.length, 0);
      return;
    }
    if (groups.length === 0) return;
    const E = this.elements;
    const uniform = batches.length === k && batches.every((b) => b.length === maxLen) && groups.length === maxLen;
    const inputs: Float32Array[] = [];
    try {
      for (const p of this.o.parityModels) {
        const input = allocF32(groups.length * E);
        if (uniform && this.o.encoder === 'sum' && maxLen > 1) {
          codec.encodeSumBatched(batchInputs, maxLen, { weights: p.coefficients, out: input });
        } else {
          groups.forEach((g, gi) => {
            const out = input.subarray(gi * E, (gi + 1) * E);
            const slots = Array.from({ length: k }, (_, s) => g.members[s % g.members.length]!.input);
            if (this.o.encoder === 'sum') {
              codec.encodeSum(slots, { weights: p.coefficients, out });
            } else {
              const [channels, height, width] = this.sampleShape as [number, number, number];
              codec.encodeConcat(slots, { channels, height, width }, { out });
            }
          });
        }
        inputs.push(input);
      }
    } catch (e) {
      // The originals are already on their way: losing the parity only loses the protection.
      this.log?.error({ err: (e as Error).message }, 'encoding a parity query failed; group left unprotected');
      for (const g of groups) {
        for (const m of g.members) m.group = null;
        this.counters.unprotected += g.members.length;
      }
      return;
    }
    this.o.parityModels.forEach((_, row) => {
      if (!rowsUp[row]) return; // its instances stopped restarting: no parity from this row
      const input = inputs[row]!;
      const t: Task = {
        id: this.nextTask++,
        role: 'parity',
        row,
        units: [],
        groups,
        input,
        batch: groups.length,
        state: 'queued',
        queue: null,
        instance: null,
        attempt: 0,
        hedgeOf: null,
        hedgeTimer: null,
      };
      for (const g of groups) g.parityTasks.push(t);
      this.tasks.set(t.id, t);
      this.enqueue(t, false);
    });
    this.pump();
  }

  // ---- dispatch --------------------------------------------------------------------------------

  private allInstances(): Instance[] {
    return [...this.deployed, ...this.parity.flat()];
  }

  private enqueue(t: Task, front: boolean, avoid: Instance | null = null): void {
    let q: TaskQueue<Task>;
    if (this.o.balancing === 'round-robin') {
      const pool = t.role === 'deployed' ? this.deployed : this.parity[t.row]!;
      const up = pool.filter((i) => i.state !== 'down' && i.state !== 'restarting' && i !== avoid);
      const choices = up.length > 0 ? up : pool;
      const inst = choices[this.rr++ % choices.length]!;
      q = this.ownQueues.get(inst)!;
    } else {
      q = t.role === 'deployed' ? this.deployedQueue : this.parityQueues[t.row]!;
    }
    t.state = 'queued';
    t.queue = q;
    if (front) q.pushFront(t);
    else q.push(t);
  }

  private cancelTask(t: Task): void {
    if (t.state !== 'queued' || !t.queue) return;
    t.queue.cancel(t);
    this.tasks.delete(t.id);
    for (const u of t.units) u.tasks.delete(t);
  }

  private pump(): void {
    if (!this.readyFlag) return;
    for (const inst of this.deployed) if (inst.idle) this.feed(inst, this.ownQueues.get(inst) ?? this.deployedQueue);
    this.parity.forEach((list, row) => {
      for (const inst of list) if (inst.idle) this.feed(inst, this.ownQueues.get(inst) ?? this.parityQueues[row]!);
    });
  }

  private feed(inst: Instance, q: TaskQueue<Task>): void {
    const t = q.shift();
    if (!t) return;
    t.state = 'running';
    t.instance = inst;
    inst.run(t.id, t.input, [t.batch, ...this.sampleShape]);
    if (this.o.mode === 'hedged' && t.role === 'deployed' && !t.hedgeOf) {
      t.hedgeTimer = setTimeout(() => this.hedge(t), this.o.hedgeDelayMs);
    }
  }

  private hedge(t: Task): void {
    t.hedgeTimer = null;
    if (t.state !== 'running' || this.closing) return;
    const open = t.units.filter((u) => u.output === null && !u.query.answered);
    if (open.length === 0) return;
    this.counters.hedges++;
    const h = this.newDataTask(open, t.attempt, t);
    this.enqueue(h, true, t.instance);
    this.pump();
  }

  // ---- results ---------------------------------------------------------------------------------

  private instanceEvents(): InstanceEvents {
    return {
      onReady: (inst, inputs, outputs) => {
        this.metas.set(inst, { inputs, outputs });
        const s = this.pendingStarts.get(inst);
        if (s) {
          this.pendingStarts.delete(inst);
          s.resolve();
        } else {
          this.log?.info({ instance: inst.id, restarts: inst.restarts }, 'instance restarted');
        }
        this.pump();
      },
      onResult: (inst, taskId, output, shape) => {
        const t = this.tasks.get(taskId);
        if (!t) return;
        this.finishTask(t);
        const O = this.outElements;
        try {
          if (output.length !== t.batch * O) {
            this.taskFailed(t, inst, `output has ${output.length} floats for shape [${shape}], expected ${t.batch * O}`, 'PARM_ERR_ENGINE_MODEL');
          } else if (t.role === 'deployed') {
            t.units.forEach((u, i) => this.onOriginal(u, output.subarray(i * O, (i + 1) * O), inst.id));
          } else {
            t.groups.forEach((g, i) => this.onParity(g, t.row, output.subarray(i * O, (i + 1) * O), inst.id));
          }
        } catch (e) {
          this.internalError(t, e);
        }
        this.pump();
      },
      onTaskError: (inst, taskId, message) => {
        const t = this.tasks.get(taskId);
        if (t) {
          this.finishTask(t);
          this.taskFailed(t, inst, `model run failed: ${message}`, 'PARM_ERR_ENGINE_MODEL');
        }
        this.pump();
      },
      onDown: (inst, taskId, reason) => {
        this.counters.restarts++;
        this.log?.warn({ instance: inst.id, reason, task: taskId }, 'instance down, restarting');
        const own = this.ownQueues.get(inst);
        if (own) for (const t of own.drain()) this.enqueue(t, false, inst);
        const t = taskId === null ? undefined : this.tasks.get(taskId);
        if (t) {
          this.finishTask(t);
          this.taskFailed(t, inst, `instance ${inst.id} ${reason}`, 'PARM_ERR_ENGINE_INSTANCE');
        }
        this.pump();
      },
      onGaveUp: (inst, reason) => {
        const s = this.pendingStarts.get(inst);
        const e = err('PARM_ERR_ENGINE_MODEL', `instance ${inst.id} could not start: ${reason}`);
        if (s) {
          this.pendingStarts.delete(inst);
          s.reject(e);
          return;
        }
        this.log?.error({ instance: inst.id, reason }, 'instance gave up');
        const pool = inst.cfg.role === 'deployed' ? this.deployed : this.parity[inst.cfg.row]!;
        if (inst.cfg.role === 'deployed' && pool.every((i) => i.gaveUp)) {
          for (const q of [...this.pendingQueries]) this.failQuery(q, e);
        }
      },
    };
  }

  /**
   * A bug or an unexpected codec error while handling a result: answer the task's own queries with
   * an error rather than leave them waiting (parity outputs are only lost, the originals still come).
   */
  private internalError(t: Task, e: unknown): void {
    this.log?.error({ err: (e as Error)?.message, task: t.id, role: t.role }, 'internal error handling a result');
    if (t.role !== 'deployed') return;
    for (const u of t.units) {
      if (u.output === null) this.failQuery(u.query, err('PARM_ERR_ENGINE_MODEL', `internal error: ${(e as Error)?.message ?? String(e)}`));
    }
  }

  private finishTask(t: Task): void {
    t.state = 'done';
    this.tasks.delete(t.id);
    if (t.hedgeTimer) clearTimeout(t.hedgeTimer);
    t.hedgeTimer = null;
    for (const u of t.units) u.tasks.delete(t);
  }

  /** Re-issue what a failed task still owes, or answer its queries with an error after maxRetries. */
  private taskFailed(t: Task, inst: Instance, reason: string, code: ErrorCode): void {
    if (this.closed) return;
    if (t.role === 'parity') {
      const needed = t.groups.filter((g) => g.members.some((m) => m.output === null && !m.query.answered));
      if (needed.length === 0 || t.attempt >= this.o.maxRetries) return;
      this.counters.retries++;
      const again: Task = { ...t, id: this.nextTask++, state: 'queued', instance: null, attempt: t.attempt + 1, hedgeTimer: null };
      // The original batch input still encodes every group; re-run it whole (positions stay aligned).
      for (const g of t.groups) g.parityTasks.push(again);
      this.tasks.set(again.id, again);
      this.enqueue(again, true, inst);
      return;
    }
    const open = t.units.filter((u) => u.output === null && !u.query.answered);
    const reissue: Unit[] = [];
    for (const u of open) {
      if (u.recon) {
        // Its original will not come: the reconstruction answers now, whatever the deadline.
        this.answerUnit(u, u.recon, true, u.reconBy);
        continue;
      }
      if (u.tasks.size > 0) continue; // a hedge or earlier retry is still on it
      if (u.retries >= this.o.maxRetries) {
        this.failQuery(u.query, err(code, `${reason}; gave up after ${u.retries} retries`));
        continue;
      }
      u.retries++;
      reissue.push(u);
    }
    if (reissue.length > 0) {
      this.counters.retries++;
      this.enqueue(this.newDataTask(reissue, t.attempt + 1), true, inst);
    }
  }

  private onOriginal(u: Unit, out: Float32Array, by: string): void {
    if (u.original === null) u.original = out;
    if (u.output !== null || u.query.answered) {
      this.counters.lateOriginalsDiscarded++;
      return;
    }
    this.answerUnit(u, out, false, by);
    if (u.group) this.tryDecode(u.group);
  }

  private onParity(g: Group, row: number, out: Float32Array, by: string): void {
    if (g.parity[row] !== null) return;
    g.parity[row] = out;
    g.parityBy[row] = by;
    this.tryDecode(g);
  }

  /** Decode every member that has neither an original nor a reconstruction, if the parities allow. */
  private tryDecode(g: Group): void {
    const known = g.members.map((m) => m.original ?? m.recon);
    const missing = known.flatMap((x, i) => (x === null && !g.members[i]!.query.answered ? [i] : []));
    if (missing.length === 0) {
      this.cancelParity(g);
      return;
    }
    const rows = g.parity.flatMap((p, i) => (p ? [i] : []));
    if (rows.length < known.filter((x) => x === null).length) return;
    const unknown = known.filter((x) => x === null).length;
    // Try row subsets of the needed size in order until one gives a non-singular system.
    for (const subset of combinations(rows, unknown)) {
      let decoded: Float32Array[];
      try {
        decoded = codec.decode(
          subset.map((r) => g.parity[r]!),
          known,
          { coefficients: subset.map((r) => g.coefficients[r]!) },
        );
      } catch (e) {
        if (e instanceof ParmError && e.code === 'PARM_ERR_CODEC_SINGULAR') continue;
        throw e;
      }
      const by = subset.map((r) => g.parityBy[r]).join('+');
      let j = 0;
      known.forEach((x, i) => {
        if (x !== null) return;
        const m = g.members[i]!;
        m.recon = decoded[j++]!;
        m.reconBy = by;
        if (m.output === null && !m.query.answered && performance.now() >= m.query.deadlineAt) this.answerUnit(m, m.recon, true, by);
      });
      return;
    }
  }

  private cancelParity(g: Group): void {
    for (const t of g.parityTasks) {
      if (t.state !== 'queued') continue;
      if (t.groups.every((x) => x.members.every((m) => m.output !== null || m.query.answered))) {
        this.cancelTask(t);
        this.counters.parityCancelled++;
      }
    }
  }

  private onDeadline(q: Query): void {
    if (q.answered) return;
    // Timers run on a millisecond clock and may fire a fraction of a millisecond early.
    const left = q.deadlineAt - performance.now();
    if (left > 0) {
      q.timers.push(setTimeout(() => this.onDeadline(q), Math.ceil(left)));
      return;
    }
    for (const u of q.units) if (u.output === null && u.recon) this.answerUnit(u, u.recon, true, u.reconBy);
  }

  private answerUnit(u: Unit, out: Float32Array, reconstructed: boolean, by: string): void {
    const q = u.query;
    if (u.output !== null || q.answered) return;
    u.output = out;
    q.remaining--;
    q.instance = by;
    if (reconstructed) q.reconstructed = true;
    for (const t of [...u.tasks]) {
      if (t.state === 'queued' && t.units.every((x) => x.output !== null || x.query.answered)) {
        this.cancelTask(t);
        this.counters.cancellations++;
      }
    }
    if (u.group && !reconstructed) this.cancelParity(u.group);
    if (q.remaining === 0) this.finishQuery(q);
  }

  private settle(q: Query): void {
    q.answered = true;
    for (const t of q.timers) clearTimeout(t);
    this.pendingQueries.delete(q);
    this.pending--;
    for (const u of q.units) {
      for (const t of [...u.tasks]) {
        if (t.state === 'queued' && t.units.every((x) => x.output !== null || x.query.answered)) {
          this.cancelTask(t);
          this.counters.cancellations++;
        }
      }
      if (u.group) this.cancelParity(u.group);
    }
    if (this.pending === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private finishQuery(q: Query): void {
    this.settle(q);
    const O = this.outElements;
    let output: Float32Array;
    if (q.units.length === 1) {
      output = q.units[0]!.output!;
    } else {
      output = new Float32Array(q.units.length * O);
      q.units.forEach((u, i) => output.set(u.output!, i * O));
    }
    const latencyMs = performance.now() - q.acceptedAt;
    this.counters.answered++;
    if (q.reconstructed) this.counters.reconstructions++;
    this.latencies.record(q.reconstructed ? 'reconstructed' : 'original', latencyMs);
    q.resolve({
      output,
      shape: q.batched ? [q.units.length, ...this.outputSample] : this.outputSample.slice(),
      reconstructed: q.reconstructed,
      latencyMs,
      instance: q.instance,
    });
  }

  private failQuery(q: Query, e: ParmError): void {
    if (q.answered) return;
    this.settle(q);
    this.counters.errors++;
    q.reject(e);
  }

  // ---- faults and background load --------------------------------------------------------------

  private faultsFor(inst: Instance): InstanceFault[] {
    const out: InstanceFault[] = [];
    for (const f of this.faultSpecs) {
      const target = /^\d+$/.test(f.instance) ? `deployed-${f.instance}` : f.instance;
      if (!(target === inst.id || (target === '*' && inst.cfg.role === 'deployed'))) continue;
      switch (f.kind) {
        case 'delay':
          out.push({ kind: 'delay', ms: f.ms, probability: f.probability ?? 1, distribution: f.distribution ?? 'fixed' });
          break;
        case 'contention':
          out.push({ kind: 'contention', busyMs: f.busyMs, periodMs: f.periodMs });
          break;
        case 'crash':
          out.push({ kind: 'crash', afterQueries: f.afterQueries });
          break;
        case 'hang':
          out.push({ kind: 'hang' });
          break;
      }
    }
    return out;
  }

  setFaults(faults: FaultSpec[]): void {
    this.faultSpecs = validateFaults('faults', faults);
    for (const inst of this.allInstances()) inst.setFaults(this.faultsFor(inst));
  }

  private startBackground(): void {
    const spec = this.o.background!;
    const targets = backgroundTargets(
      spec,
      this.deployed.map((i) => i.id),
      this.parity.flat().map((i) => i.id),
    );
    const byId = new Map(this.allInstances().map((i) => [i.id, i]));
    const schedule = new BackgroundSchedule(spec, targets.length);
    const t0 = performance.now();
    let period = 0;
    const tick = (): void => {
      if (this.closing) return;
      for (const idx of schedule.next()) {
        byId.get(targets[idx]!)?.disturb({ kind: spec.kind, intensity: spec.intensity, forMs: spec.duty * spec.periodMs });
      }
      period++;
      this.backgroundTimer = setTimeout(tick, Math.max(0, t0 + period * spec.periodMs - performance.now()));
      this.backgroundTimer.unref();
    };
    tick();
  }

  // ---- metrics ---------------------------------------------------------------------------------

  metrics(): EngineMetrics {
    const c = this.counters;
    let deployedDepth = this.deployedQueue.size;
    let parityDepth = this.parityQueues.reduce((a, q) => a + q.size, 0);
    for (const [inst, q] of this.ownQueues) {
      if (inst.cfg.role === 'deployed') deployedDepth += q.size;
      else parityDepth += q.size;
    }
    return {
      queries: c.queries,
      answered: c.answered,
      reconstructions: c.reconstructions,
      lateOriginalsDiscarded: c.lateOriginalsDiscarded,
      cancellations: c.cancellations,
      retries: c.retries,
      errors: c.errors,
      restarts: c.restarts,
      rejected: c.rejected,
      hedges: c.hedges,
      groups: c.groups,
      partialGroups: c.partialGroups,
      unprotected: c.unprotected,
      parityCancelled: c.parityCancelled,
      queueDepth: { deployed: deployedDepth, parity: parityDepth },
      instances: this.allInstances().map((i) => i.health()),
      latency: this.latencies.summary(),
    };
  }
}

function* combinations(items: number[], size: number): Generator<number[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = 0; i <= items.length - size; i++) {
    for (const rest of combinations(items.slice(i + 1), size - 1)) yield [items[i]!, ...rest];
  }
}

/** Start an engine and wait until every instance has loaded its model. */
export async function createEngine(options: EngineOptions, runtime: EngineRuntime = {}): Promise<Engine> {
  const e = new ParmEngine(options, runtime);
  try {
    await e.ready();
  } catch (cause) {
    await e.close();
    throw cause;
  }
  return e;
}

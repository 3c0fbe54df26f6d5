// A query and its settlement: the units (samples) of one `infer` call, the answer each unit gets
// (its original or a reconstruction), and the single resolve or reject of the caller's promise.
import { ParmError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';
import type { Group } from './coding-window.js';
import { IdTable } from './id-table.js';
import type { Counters, Latencies } from './metrics.js';
import type { ModelShape } from './model-signature.js';
import { sharedFloats } from './shared-floats.js';
import { TimeoutQueue, type TimeoutEntry } from './timeout-queue.js';
import type { Task } from './task.js';
import type { DecodePolicy, InferResult } from './types.js';

export interface Query {
  readonly id: number;
  readonly units: Unit[];
  /** Clock time of acceptance: latency is measured from here. */
  readonly acceptedAt: number;
  /** From when a reconstruction may answer: acceptedAt (`first`) or acceptedAt + waitMs (`deadline`). */
  readonly deadlineAt: number;
  /** The caller gave a batch dimension: the answer keeps it. */
  readonly batched: boolean;
  /** Units still without an answer (counted down by QueryBook.answerUnit). */
  remaining: number;
  /** Settled: resolved or rejected. Set once, by QueryBook. */
  answered: boolean;
  /** Some unit was answered by a reconstruction. */
  reconstructed: boolean;
  /** Who produced the last unit answer: a deployed instance, or the parity instances decoded from. */
  instance: string;
  /** Its timeout (PARM_ERR_ENGINE_TIMEOUT), cancelled at settlement (null: none armed). */
  timeout: TimeoutEntry | null;
  /** Deadline timers (the deadline decode policy), cleared at settlement (null: none armed). */
  timers: TimerHandle[] | null;
  readonly resolve: (r: InferResult) => void;
  readonly reject: (e: Error) => void;
}

/** One sample: the unit of coding. A query of n samples has n units. */
export interface Unit {
  readonly query: Query;
  /** The sample's floats: a view on shared memory that instances read; never written after acceptance. */
  readonly input: Float32Array;
  /** The answer given (original or reconstruction); set once, by QueryBook.answerUnit. */
  output: Float32Array | null;
  /** The deployed model's own output once it arrived (also when late); set by the result router. */
  original: Float32Array | null;
  /** A reconstruction decoded for it, held while the deadline policy waits; set by ParityCoding. */
  recon: Float32Array | null;
  /** The parity instance(s) `recon` was decoded from. */
  reconBy: string;
  /** Its coding group (parm mode, once the window closed); null while unprotected. */
  group: Group | null;
  /** Data tasks that carry it (the original, retries, hedges: rarely more than one); kept by TaskTable. */
  readonly tasks: Task[];
  /** Re-issues after failures so far (Recovery). */
  retries: number;
}

export interface SettlementHooks {
  /** A unit has its answer: queued work that only it needed can go. */
  unitAnswered(u: Unit, reconstructed: boolean): void;
  /** The query settled: none of its work is needed any more. */
  querySettled(q: Query): void;
}

/** Accepted queries until they settle, and the rules of settling them exactly once. */
export class QueryBook {
  private nextId = 1;
  /** Accepted and not settled (not a Set: src/engine/id-table.ts says why). */
  private readonly open = new IdTable<Query>();
  /** Callers of drained(), resolved when `open` empties. */
  private drainWaiters: (() => void)[] = [];
  /** Every query's timeout, on one timer. */
  private readonly timeouts: TimeoutQueue;

  constructor(
    private readonly clock: Clock,
    /** Filled when the models have loaded; queries exist only after that. */
    private readonly shape: ModelShape,
    private readonly counters: Counters,
    private readonly latencies: Latencies,
    private readonly hooks: SettlementHooks,
  ) {
    this.timeouts = new TimeoutQueue(clock);
  }

  /** Queries accepted and not settled. */
  get pending(): number {
    return this.open.size;
  }

  /**
   * Accepts `n` samples of `data` (copied once: the caller may reuse its buffer, and instances read
   * this copy; with `transfer`, kept as is when it is a whole buffer of exactly those samples) and
   * arms the query's timeout and deadline timers.
   */
  accept(
    data: Float32Array,
    n: number,
    batched: boolean,
    decode: DecodePolicy,
    timeoutMs: number | undefined,
    resolve: (r: InferResult) => void,
    reject: (e: Error) => void,
    transfer = false,
  ): Query {
    const E = this.shape.elements;
    const whole = transfer && data.length === n * E && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const buf = whole ? data : sharedFloats(n * E);
    if (!whole) buf.set(data);
    const now = this.clock.now();
    const q: Query = {
      id: this.nextId++,
      units: [],
      acceptedAt: now,
      deadlineAt: decode.kind === 'deadline' ? now + decode.waitMs : now,
      batched,
      remaining: n,
      answered: false,
      reconstructed: false,
      instance: '',
      timeout: null,
      timers: null,
      resolve,
      reject,
    };
    for (let i = 0; i < n; i++) {
      // A single sample is the whole buffer: no view of it to make.
      const input = n === 1 ? buf : buf.subarray(i * E, (i + 1) * E);
      q.units.push({ query: q, input, output: null, original: null, recon: null, reconBy: '', group: null, tasks: [], retries: 0 });
    }
    this.open.add(q);
    this.counters.queries++;
    if (timeoutMs !== undefined) q.timeout = this.timeouts.add(timeoutMs, () => this.fail(q, new ParmError('PARM_ERR_ENGINE_TIMEOUT', `no answer within ${timeoutMs} ms`)));
    if (decode.kind === 'deadline' && decode.waitMs > 0) this.arm(q, () => this.onDeadline(q), decode.waitMs);
    return q;
  }

  /** Gives a unit its answer (the first one wins); the query resolves when its last unit has one. */
  answerUnit(u: Unit, out: Float32Array, reconstructed: boolean, by: string): void {
    const q = u.query;
    if (u.output !== null || q.answered) return;
    u.output = out;
    q.remaining--;
    q.instance = by;
    if (reconstructed) q.reconstructed = true;
    this.hooks.unitAnswered(u, reconstructed);
    if (q.remaining === 0) this.resolveQuery(q);
  }

  /** Rejects a query that has not settled yet. */
  fail(q: Query, e: ParmError): void {
    if (q.answered) return;
    this.settle(q);
    this.counters.errors++;
    q.reject(e);
  }

  /** The caller withdrew a query that has not settled: it rejects with `e`, not counted as an engine error. */
  cancel(q: Query, e: ParmError): void {
    if (q.answered) return;
    this.settle(q);
    q.reject(e);
  }

  failAll(e: ParmError): void {
    for (const q of [...this.open.values()]) this.fail(q, e);
  }

  /** At close, once every query has settled: no timeout timer is left. */
  dispose(): void {
    this.timeouts.dispose();
  }

  /** Resolves when no query is pending. */
  drained(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** The deadline passed: units with a reconstruction waiting take it. */
  private onDeadline(q: Query): void {
    if (q.answered) return;
    // Timers run on a millisecond clock and may fire a fraction of a millisecond early.
    const left = q.deadlineAt - this.clock.now();
    if (left > 0) {
      this.arm(q, () => this.onDeadline(q), Math.ceil(left));
      return;
    }
    for (const u of q.units) if (u.output === null && u.recon) this.answerUnit(u, u.recon, true, u.reconBy);
  }

  private arm(q: Query, fn: () => void, ms: number): void {
    (q.timers ??= []).push(this.clock.setTimeout(fn, ms));
  }

  private settle(q: Query): void {
    q.answered = true;
    if (q.timeout) this.timeouts.cancel(q.timeout);
    if (q.timers) for (const t of q.timers) this.clock.clearTimeout(t);
    this.open.delete(q.id);
    this.hooks.querySettled(q);
    if (this.open.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  private resolveQuery(q: Query): void {
    this.settle(q);
    const O = this.shape.outElements;
    let output: Float32Array;
    if (q.units.length === 1) {
      output = q.units[0]!.output!;
    } else {
      output = new Float32Array(q.units.length * O);
      q.units.forEach((u, i) => output.set(u.output!, i * O));
    }
    const latencyMs = this.clock.now() - q.acceptedAt;
    this.counters.answered++;
    if (q.reconstructed) this.counters.reconstructions++;
    this.latencies.record(q.reconstructed ? 'reconstructed' : 'original', latencyMs);
    q.resolve({
      output,
      shape: q.batched ? [q.units.length, ...this.shape.output] : this.shape.output.slice(),
      reconstructed: q.reconstructed,
      latencyMs,
      instance: q.instance,
    });
  }
}

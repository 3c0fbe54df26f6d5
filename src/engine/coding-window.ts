// The coding window (parm mode): closed batches wait until k of them have come, or groupWaitMs
// after the first, then form coding groups position-wise: group i holds sample i of every batch
// (the paper's parity over batches), so one slow batch loses at most one member of each group.
// A group that did not fill gets the partial-group policy.
import type { Clock, TimerHandle } from './clock.js';
import type { Counters } from './metrics.js';
import type { PendingParity } from './parity-start.js';
import type { Unit } from './query.js';
import type { Task } from './task.js';

export interface Group {
  readonly id: number;
  readonly members: Unit[];
  /** Parity output per row; null until it arrives (set by the result router). */
  readonly parity: (Float32Array | null)[];
  /** The parity instance each row's output came from. */
  readonly parityBy: string[];
  /**
   * Effective coefficients per row over `members`: a partial group padded by replication folds
   * the coefficients of the slots a member fills into one.
   */
  readonly coefficients: number[][];
  /** Parity tasks that carry this group (first tries and retries). */
  readonly parityTasks: Task[];
  /** Its window's parity while deferred (ParityStart); null once started or skipped. */
  pendingParity: PendingParity | null;
}

/** What closed: the groups formed, and the batches they came from with their task inputs. */
export interface ClosedWindow {
  groups: Group[];
  batches: Unit[][];
  batchInputs: Float32Array[];
}

export interface CodingWindowOptions {
  k: number;
  groupWaitMs: number;
  partialGroup: 'replicate' | 'unprotected';
  /** Coefficients w_1..w_k of each parity row. */
  rows: readonly (readonly number[])[];
}

export class CodingWindow {
  /** Closed batches waiting for the window to fill, with their data tasks' inputs. */
  private batches: Unit[][] = [];
  private inputs: Float32Array[] = [];
  /** Closes a window that did not fill, groupWaitMs after its first batch. */
  private timer: TimerHandle | null = null;
  private nextGroup = 1;

  constructor(
    private readonly o: CodingWindowOptions,
    private readonly clock: Clock,
    private readonly counters: Counters,
    private readonly emit: (w: ClosedWindow) => void,
  ) {}

  add(units: Unit[], input: Float32Array): void {
    this.batches.push(units);
    this.inputs.push(input);
    if (this.batches.length >= this.o.k) this.close();
    else if (!this.timer) this.timer = this.clock.setTimeout(() => this.close(), this.o.groupWaitMs);
  }

  /** Forms the groups of what is waiting now (fewer than k batches make partial groups). */
  close(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    const batches = this.batches;
    const batchInputs = this.inputs;
    this.batches = [];
    this.inputs = [];
    if (batches.length === 0) return;
    const groups = this.form(batches);
    if (groups.length > 0) this.emit({ groups, batches, batchInputs });
  }

  dispose(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private form(batches: Unit[][]): Group[] {
    const { k, rows } = this.o;
    const maxLen = Math.max(...batches.map((b) => b.length));
    const groups: Group[] = [];
    for (let i = 0; i < maxLen; i++) {
      const members = batches.filter((b) => i < b.length).map((b) => b[i]!);
      if (members.every((m) => m.output !== null || m.query.answered)) continue; // nothing left to protect
      const partial = members.length < k;
      if (partial) this.counters.partialGroups++;
      if (partial && this.o.partialGroup === 'unprotected') {
        this.counters.unprotected += members.length;
        continue;
      }
      this.counters.groups++;
      const n = members.length;
      // Slot s of the k holds member s % n; a member's effective coefficient sums its slots.
      const coefficients = rows.map((w) => {
        const eff = new Array<number>(n).fill(0);
        for (let s = 0; s < k; s++) eff[s % n]! += w[s]!;
        return eff;
      });
      const g: Group = { id: this.nextGroup++, members, parity: rows.map(() => null), parityBy: [], coefficients, parityTasks: [], pendingParity: null };
      for (const m of members) m.group = g;
      groups.push(g);
    }
    return groups;
  }
}

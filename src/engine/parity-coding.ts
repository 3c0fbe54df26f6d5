// Parity coding: the encoder strategy that turns a closed window's groups into one parity query
// per group and parity row (summation, position-wise over whole batches when they line up, or
// image concatenation), and the decoder that reconstructs missing members from parity outputs.
import type { Clock } from './clock.js';
import type { ClosedWindow, Group } from './coding-window.js';
import type { EngineCodec } from './engine-codec.js';
import type { EngineLogger } from './logger.js';
import type { Counters } from './metrics.js';
import type { ModelShape } from './model-signature.js';
import type { QueryBook } from './query.js';
import type { Scheduler } from './scheduler.js';
import { sharedFloats } from './shared-floats.js';
import type { TaskTable } from './task.js';
import type { EncoderKind } from './types.js';

export interface ParityCodingOptions {
  k: number;
  encoder: EncoderKind;
  /** Coefficients w_1..w_k of each parity row. */
  rows: readonly (readonly number[])[];
}

export class ParityCoding {
  constructor(
    private readonly o: ParityCodingOptions,
    private readonly shape: ModelShape,
    private readonly codec: EngineCodec,
    private readonly clock: Clock,
    private readonly counters: Counters,
    private readonly book: QueryBook,
    private readonly tasks: TaskTable,
    private readonly scheduler: Scheduler,
    /** Whether a parity row still has an instance that may run (not all gave up). */
    private readonly rowUp: (row: number) => boolean,
    private readonly log: EngineLogger | undefined,
  ) {}

  /** Encodes the window's groups and queues one parity task per parity row that can still run. */
  protect(w: ClosedWindow): void {
    const up = this.o.rows.map((_, row) => this.rowUp(row));
    if (!up.some(Boolean)) {
      this.unprotect(w.groups);
      return;
    }
    const inputs: (Float32Array | null)[] = [];
    try {
      for (let row = 0; row < this.o.rows.length; row++) inputs.push(up[row] ? this.encode(w, row) : null);
    } catch (e) {
      // The originals are already on their way: losing the parity only loses the protection.
      this.log?.error({ err: (e as Error).message }, 'encoding a parity query failed; group left unprotected');
      this.unprotect(w.groups);
      return;
    }
    inputs.forEach((input, row) => {
      if (input) this.scheduler.enqueue(this.tasks.parity(row, w.groups, input, 0), false);
    });
  }

  /**
   * Decodes every member that has neither an original nor a reconstruction, when the parity
   * outputs that have arrived allow it; a reconstruction answers at once unless the query's
   * deadline policy still waits for the original (QueryBook answers it at the deadline).
   */
  tryDecode(g: Group): void {
    const known = g.members.map((m) => m.original ?? m.recon);
    let unknown = 0;
    let needed = 0;
    known.forEach((x, i) => {
      if (x !== null) return;
      unknown++;
      if (!g.members[i]!.query.answered) needed++;
    });
    if (needed === 0) {
      this.scheduler.cancelParity(g);
      return;
    }
    const rows: number[] = [];
    g.parity.forEach((p, row) => {
      if (p) rows.push(row);
    });
    if (rows.length < unknown) return;
    const decoded = this.codec.decode(
      rows.map((r) => g.parity[r]!),
      known,
      rows.map((r) => g.coefficients[r]!),
    );
    if (!decoded) return; // singular for every choice of the rows in: wait for another output
    const by = rows.map((r) => g.parityBy[r]).join('+');
    const now = this.clock.now();
    let j = 0;
    known.forEach((x, i) => {
      if (x !== null) return;
      const m = g.members[i]!;
      m.recon = decoded[j++]!;
      m.reconBy = by;
      if (m.output === null && !m.query.answered && now >= m.query.deadlineAt) this.book.answerUnit(m, m.recon, true, by);
    });
  }

  private encode(w: ClosedWindow, row: number): Float32Array {
    const { k, encoder } = this.o;
    const weights = this.o.rows[row]!;
    const { groups, batches, batchInputs } = w;
    const E = this.shape.elements;
    const input = sharedFloats(groups.length * E);
    const len = batches[0]!.length;
    // k batches of one length, every position protected: one element-wise sum over whole batches.
    if (encoder === 'sum' && batches.length === k && groups.length === len && batches.every((b) => b.length === len)) {
      this.codec.encodeSum(batchInputs, weights, input);
      return input;
    }
    const [channels, height, width] = this.shape.sample as [number, number, number];
    groups.forEach((g, gi) => {
      const out = input.subarray(gi * E, (gi + 1) * E);
      const slots = Array.from({ length: k }, (_, s) => g.members[s % g.members.length]!.input);
      if (encoder === 'sum') this.codec.encodeSum(slots, weights, out);
      else this.codec.encodeConcat(slots, { channels, height, width }, out);
    });
    return input;
  }

  private unprotect(groups: readonly Group[]): void {
    for (const g of groups) {
      for (const m of g.members) m.group = null;
      this.counters.unprotected += g.members.length;
    }
  }
}

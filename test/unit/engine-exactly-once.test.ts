// Property: over random seeded schedules of delays, crashes, hangs and model errors on deployed and
// parity instances, with random k, r, batching, partial-group and decode policies, every accepted
// query is settled exactly once, an original answer is the model's output, a reconstruction is
// given only when no original had come by then, and the metrics agree with what callers saw.
// fast-check shrinks a failure and prints its seed; rerun one with PARM_PROPERTY_SEED=<seed>.
import fc from 'fast-check';
import t from 'tap';
import type { EngineOptions } from '../../src/engine/types.js';
import { MODEL_FILE, startFake } from '../helpers/fake-engine-harness.js';
import { IN, fakeModel, type Outcome } from '../helpers/fake-instances.js';

interface Scenario {
  k: number;
  r: number;
  instances: number;
  batching: EngineOptions['batching'];
  partialGroup: 'replicate' | 'unprotected';
  /** Per query: gap before it (ms) and its decode deadline (undefined: first). */
  arrivals: { gapMs: number; deadlineMs: number | undefined }[];
  /** Outcome of run n of each instance id, cycled. */
  outcomes: Outcome[];
  hedged: boolean;
  /** Eager (0), adaptive (undefined) or a fixed deferral of parity. */
  parityDeferMs: number | undefined;
}

const outcome: fc.Arbitrary<Outcome> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('result' as const), ms: fc.integer({ min: 1, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), ms: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hang' as const), ms: fc.constant(0) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('error' as const, 'wrong-size' as const), ms: fc.integer({ min: 1, max: 10 }) }) },
);

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    k: fc.integer({ min: 2, max: 4 }),
    r: fc.integer({ min: 1, max: 2 }),
    instances: fc.integer({ min: 1, max: 4 }),
    batching: fc.option(fc.record({ maxBatch: fc.integer({ min: 1, max: 4 }), maxDelayMs: fc.integer({ min: 0, max: 4 }) }), { nil: undefined }),
    partialGroup: fc.constantFrom('replicate' as const, 'unprotected' as const),
    arrivals: fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 6 }), deadlineMs: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }) }), { minLength: 1, maxLength: 30 }),
    outcomes: fc.array(outcome, { minLength: 1, maxLength: 12 }),
    hedged: fc.boolean(),
    parityDeferMs: fc.oneof(fc.constant(0), fc.constant(undefined), fc.integer({ min: 1, max: 20 })),
  })
  .map((s) => ({ ...s, batching: s.batching ?? false }));

/** A distinct, exactly representable input per query. */
const input = (i: number): Float32Array => Float32Array.from({ length: IN }, (_, j) => (j === 0 ? i + 1 : ((i * (j + 2)) % 9) - 4));

async function check(s: Scenario): Promise<string | null> {
  const rows = Array.from({ length: s.r }, (_, row) => ({ path: MODEL_FILE, coefficients: Array.from({ length: s.k }, (_, j) => (row === 0 ? 1 : j + 1)) }));
  const counts = new Map<string, number>();
  const h = await startFake(
    {
      k: s.k,
      instances: s.instances,
      parityModels: rows,
      mode: s.hedged ? 'hedged' : 'parm',
      batching: s.batching,
      partialGroup: s.partialGroup,
      hangTimeoutMs: 80,
      heartbeatMs: 10,
      groupWaitMs: 3,
      hedgeDelayMs: 15,
      maxRetries: 3,
      parityDeferMs: s.parityDeferMs,
    },
    (id) => {
      const n = counts.get(id) ?? 0;
      counts.set(id, n + 1);
      return s.outcomes[n % s.outcomes.length]!;
    },
  );
  const xs = s.arrivals.map((_, i) => input(i));
  const sentAt: number[] = [];
  for (const [i, a] of s.arrivals.entries()) {
    if (a.gapMs > 0) await h.clock.runAsync(a.gapMs);
    sentAt.push(h.clock.now());
    h.send(xs[i]!, a.deadlineMs === undefined ? {} : { decode: { kind: 'deadline', waitMs: a.deadlineMs } });
  }
  await h.run(120_000);
  const why = ((): string | null => {
    if (!h.settledCount.every((c) => c === 1)) return `settlements per query ${JSON.stringify(h.settledCount)}`;
    let reconstructed = 0;
    let answered = 0;
    let failed = 0;
    for (const [i, o] of h.outcomes.entries()) {
      if (!o) return `query ${i} never settled`;
      if (!o.ok) {
        failed++;
        if (!['PARM_ERR_ENGINE_INSTANCE', 'PARM_ERR_ENGINE_MODEL'].includes(o.e.code ?? '')) return `query ${i}: unexpected error ${o.e.code} ${o.e.message}`;
        continue;
      }
      answered++;
      const want = Array.from(fakeModel(xs[i]!));
      if (!o.r.reconstructed) {
        if (JSON.stringify(Array.from(o.r.output)) !== JSON.stringify(want)) return `query ${i}: original ${Array.from(o.r.output)} != F(x) ${want}`;
        continue;
      }
      reconstructed++;
      if (!Array.from(o.r.output).every((v, j) => Math.abs(v - want[j]!) < 1e-2 * (1 + Math.abs(want[j]!)))) return `query ${i}: reconstruction ${Array.from(o.r.output)} != F(x) ${want}`;
      // Reconstructed only if no valid original of this query had been reported before the answer.
      const answerAt = sentAt[i]! + o.at;
      const key = xs[i]!.join(',');
      const earlier = h.fleet.runs.some((r) => {
        if (!r.id.startsWith('deployed') || r.outcome !== 'result' || r.resultAt === null || r.resultAt >= answerAt) return false;
        for (let b = 0; b < r.batch; b++) if (Array.from(r.input.subarray(b * IN, (b + 1) * IN)).join(',') === key) return true;
        return false;
      });
      if (earlier) return `query ${i}: reconstructed at ${answerAt} ms although its original had come before`;
      const deadline = s.arrivals[i]!.deadlineMs;
      if (deadline !== undefined && o.at < deadline) {
        // Before the deadline a reconstruction may answer only when the original cannot come (its task failed).
        const failedRun = h.fleet.runs.some((r) => r.id.startsWith('deployed') && r.outcome !== 'result');
        if (!failedRun) return `query ${i}: reconstruction at ${o.at} ms before its ${deadline} ms deadline`;
      }
    }
    const m = h.engine.metrics();
    if (m.answered !== answered || m.errors !== failed || m.reconstructions !== reconstructed || m.queries !== s.arrivals.length || m.rejected !== 0) {
      return `metrics ${JSON.stringify({ queries: m.queries, answered: m.answered, errors: m.errors, reconstructions: m.reconstructions, rejected: m.rejected })} vs seen ${JSON.stringify({ answered, failed, reconstructed })}`;
    }
    return null;
  })();
  await h.close();
  return why;
}

t.test('every accepted query is settled exactly once, correctly, under random schedules', async (t) => {
  const seed = process.env['PARM_PROPERTY_SEED'] ? Number(process.env['PARM_PROPERTY_SEED']) : Date.now() % 2 ** 31;
  let runs = 0;
  const result = await fc.check(
    fc.asyncProperty(scenario, async (s) => {
      runs++;
      const why = await check(s);
      if (why) throw new Error(why);
    }),
    { numRuns: 150, seed },
  );
  t.comment(`seed ${seed}: ${runs} scenarios`);
  t.notOk(result.failed, result.failed ? `${(result.errorInstance as Error | undefined)?.message ?? ''}: ${fc.defaultReportMessage(result)}` : `held for ${result.numRuns} scenarios (seed ${seed})`);
});

// Starts a real ParmEngine on fakes for the unit tier: scripted fake instances, the TypeScript
// fake codec and a simulated clock, so that a test drives the coding state machine step by step.
import { fileURLToPath } from 'node:url';
import { ParmEngine } from '../../src/engine/engine.js';
import type { EngineOptions, InferOptions, InferResult } from '../../src/engine/types.js';
import { VirtualClock } from '../../src/sim/virtual-clock.js';
import { fakeCodec, type FakeCodec } from './fake-codec.js';
import { FakeFleet, IN, type Script } from './fake-instances.js';

/** Only checked to exist by the option validator: fakes never load it. */
export const MODEL_FILE = fileURLToPath(new URL('../fixtures/models/mlp.onnx', import.meta.url));

export interface Harness {
  engine: ParmEngine;
  clock: VirtualClock;
  fleet: FakeFleet;
  codec: FakeCodec;
  /** Issues a query now; its settlement is recorded in `outcomes` (index = issue order), `at` in ms after it was sent. */
  send(x: Float32Array, opts?: InferOptions): number;
  outcomes: ({ ok: true; r: InferResult; at: number } | { ok: false; e: Error & { code?: string }; at: number } | null)[];
  /** How many times each query settled (must end at exactly 1). */
  settledCount: number[];
  /** Runs the simulated clock until every query sent has settled (or `limitMs` passed). */
  run(limitMs?: number): Promise<void>;
  /** Closes the engine, running the simulated clock through its drain timeout. */
  close(): Promise<void>;
}

/** A query input: small integers, so that float32 sums and the linear fake model are exact. */
export function query(seed: number): Float32Array {
  return Float32Array.from({ length: IN }, (_, i) => ((seed * 7 + i * 3) % 11) - 5);
}

export async function startFake(opts: Partial<EngineOptions> = {}, script?: Script): Promise<Harness> {
  const clock = new VirtualClock();
  const fleet = new FakeFleet(script);
  const codec = fakeCodec();
  const engine = new ParmEngine(
    // Eager parity unless a test asks for deferral: most tests time the paper's behaviour.
    { name: 'fake', deployedModel: MODEL_FILE, parityModels: [{ path: MODEL_FILE }], k: 2, instances: 2, parityDeferMs: 0, ...opts },
    { clock, codec, instanceFactory: fleet.factory },
  );
  const ready = engine.ready();
  await clock.runAsync();
  await ready;
  const h: Harness = {
    engine,
    clock,
    fleet,
    codec,
    outcomes: [],
    settledCount: [],
    send(x, o) {
      const i = h.outcomes.length;
      const sentAt = clock.now();
      h.outcomes.push(null);
      h.settledCount.push(0);
      engine.infer(x, o).then(
        (r) => {
          h.settledCount[i]!++;
          h.outcomes[i] = { ok: true, r, at: clock.now() - sentAt };
        },
        (e: Error) => {
          h.settledCount[i]!++;
          h.outcomes[i] = { ok: false, e, at: clock.now() - sentAt };
        },
      );
      return i;
    },
    run: (limitMs = 600_000) => clock.runUntil(() => h.outcomes.every((o) => o !== null), limitMs),
    async close() {
      let closed = false;
      const p = engine.close().then(() => (closed = true));
      await clock.runUntil(() => closed);
      await p;
    },
  };
  return h;
}

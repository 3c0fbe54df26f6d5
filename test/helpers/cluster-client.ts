// A client host of the namespace cluster test: forked into its own namespace, it drives the
// frontend over the bridge with the Node client (parm/client, WebSocket stream) and reads its
// HTTP endpoints, on commands from the test over IPC. Each load phase reports every query's
// outcome and how many times it settled.
import { ParmClient } from '../../src/client/index.js';

export type ClientRequest =
  | { type: 'connect'; url: string; model: string }
  /** Sends `count` queries at `rate`/s (image i % n of `images`, 784 floats each), open loop. */
  | { type: 'load'; rate: number; count: number; images: Float32Array }
  | { type: 'get'; url: string };

/** Commands run concurrently; each report carries the `seq` of its command. */
export type ClientCommand = { seq: number } & ClientRequest;

export interface QueryOutcome {
  image: number;
  /** Settlements of its promise (must be 1). */
  settled: number;
  ok: boolean;
  reconstructed: boolean;
  instance: string | undefined;
  output: number[] | null;
  error: string | null;
  ms: number;
}

export type ClientReport = { seq: number } & (
  | { type: 'connected' }
  | { type: 'loaded'; outcomes: QueryOutcome[] }
  | { type: 'got'; status: number; text: string }
  | { type: 'failed'; message: string }
);

let client: ParmClient | null = null;

async function load(cmd: Extract<ClientRequest, { type: 'load' }>): Promise<QueryOutcome[]> {
  if (!client) throw new Error('not connected');
  const n = cmd.images.length / 784;
  const outcomes: QueryOutcome[] = [];
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < cmd.count; i++) {
    const wait = t0 + (i * 1000) / cmd.rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const image = i % n;
    const o: QueryOutcome = { image, settled: 0, ok: false, reconstructed: false, instance: undefined, output: null, error: null, ms: 0 };
    outcomes.push(o);
    const sent = performance.now();
    pending.push(
      client.infer(cmd.images.subarray(image * 784, (image + 1) * 784), { timeoutMs: 60_000 }).then(
        (a) => {
          o.settled++;
          o.ok = true;
          o.reconstructed = a.reconstructed;
          o.instance = a.instance;
          o.output = Array.from(a.output);
          o.ms = performance.now() - sent;
        },
        (err: Error) => {
          o.settled++;
          o.error = err.message;
          o.ms = performance.now() - sent;
        },
      ),
    );
  }
  await Promise.all(pending);
  // Settlements that would come late (a second answer) have had a moment to show.
  await new Promise((r) => setTimeout(r, 50));
  return outcomes;
}

async function handle(cmd: ClientCommand): Promise<ClientReport> {
  switch (cmd.type) {
    case 'connect':
      client = await ParmClient.connect({ url: cmd.url, model: cmd.model, maxInFlight: 10_000, requestTimeoutMs: 60_000 });
      return { seq: cmd.seq, type: 'connected' };
    case 'load':
      return { seq: cmd.seq, type: 'loaded', outcomes: await load(cmd) };
    case 'get': {
      const res = await fetch(cmd.url, { signal: AbortSignal.timeout(5000) });
      return { seq: cmd.seq, type: 'got', status: res.status, text: await res.text() };
    }
  }
}

process.on('message', (cmd: ClientCommand) => {
  handle(cmd).then(
    (r) => process.send?.(r),
    (err: Error) => process.send?.({ seq: cmd.seq, type: 'failed', message: `${cmd.type}: ${err.message}` } satisfies ClientReport),
  );
});
process.on('disconnect', () => process.exit(0));

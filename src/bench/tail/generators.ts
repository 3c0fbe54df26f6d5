// Parent side of the load generators: forks one child process per generator, splits the offered
// load among them (a sum of independent Poisson processes is a Poisson process of the summed
// rate), and merges their results.
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult, Progress } from './loadgen.js';

/** The child module beside this one: .ts when run from source (tests), .js from dist/. */
const CHILD = new URL(`./loadgen-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** Starts a Node module as a child process with IPC (child_process.fork, or a fork into a namespace host). */
export type Forker = (modulePath: string, args: string[], opts: ForkOptions) => ChildProcess;

export interface GeneratorsOptions extends Omit<LoadOptions, 'generator' | 'rate'> {
  /** Total offered load, queries/s, split evenly over `generators` processes. */
  rate: number;
  generators: number;
  /** Where the generator processes run (default: child processes of this one, on this host). */
  fork?: Forker;
}

function runChild(options: LoadOptions, start: Forker, onProgress: (p: Progress) => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = start(fileURLToPath(CHILD), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.on('message', (msg: { type: string } & Record<string, unknown>) => {
      if (msg.type === 'progress') onProgress(msg as unknown as Progress);
      else if (msg.type === 'result') {
        settled = true;
        resolve(msg['result'] as LoadResult);
      } else if (msg.type === 'error') {
        settled = true;
        reject(new Error(`load generator ${options.generator}: ${String(msg['message'])}`));
      }
    });
    child.on('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.on('exit', (code, signal) => {
      if (!settled) reject(new Error(`load generator ${options.generator} exited (${signal ?? code}) without a result`));
      settled = true;
    });
    child.send({ type: 'run', options });
  });
}

/** Runs `generators` load-generator processes at once against one server and merges the results. */
export async function runGenerators(opts: GeneratorsOptions, onProgress?: (p: Progress) => void): Promise<LoadResult> {
  const n = Math.max(1, Math.floor(opts.generators));
  const progress: Progress[] = Array.from({ length: n }, () => ({ sent: 0, answered: 0, total: 0, elapsedMs: 0 }));
  // Counts add up; the load is as far along as its least advanced generator.
  const report = (): void => {
    if (!onProgress) return;
    onProgress(
      progress.reduce((a, p) => ({ sent: a.sent + p.sent, answered: a.answered + p.answered, total: a.total + p.total, elapsedMs: Math.min(a.elapsedMs, p.elapsedMs) }), { sent: 0, answered: 0, total: 0, elapsedMs: Infinity }),
    );
  };
  const { generators: _g, fork: start = fork, ...rest } = opts;
  const results = await Promise.all(
    progress.map((_, g) =>
      runChild({ ...rest, rate: opts.rate / n, generator: g }, start, (p) => {
        progress[g] = p;
        report();
      }),
    ),
  );
  return mergeResults(results);
}

export function mergeResults(results: LoadResult[]): LoadResult {
  if (results.length === 1) return results[0]!;
  const concat = (f: (r: LoadResult) => Float64Array): Float64Array => {
    const all = new Float64Array(results.reduce((a, r) => a + f(r).length, 0));
    let at = 0;
    for (const r of results) {
      all.set(f(r), at);
      at += f(r).length;
    }
    return all;
  };
  const sum = (f: (r: LoadResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  return {
    scheduled: sum((r) => r.scheduled),
    latenciesMs: concat((r) => r.latenciesMs),
    outsideMs: concat((r) => r.outsideMs),
    engineMs: concat((r) => r.engineMs),
    reconstructed: sum((r) => r.reconstructed),
    correct: sum((r) => r.correct),
    errors: sum((r) => r.errors),
    lost: sum((r) => r.lost),
    errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5),
    // Per-generator lag quantiles cannot be merged exactly; the worst generator is reported.
    sendLagMs: {
      p50: Math.max(...results.map((r) => r.sendLagMs.p50)),
      p99: Math.max(...results.map((r) => r.sendLagMs.p99)),
      max: Math.max(...results.map((r) => r.sendLagMs.max)),
    },
    windowMs: results[0]!.windowMs,
    offeredRate: sum((r) => r.offeredRate),
    cpuMs: sum((r) => r.cpuMs),
  };
}

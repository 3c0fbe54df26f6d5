// The Node flags a parm server process runs with: the `parm` command's own line (bin/parm.js),
// `npm start`, and every server the benchmarks start (the tail benchmark's `parm serve` and
// `parm worker`s, and both servers of bench:throughput, the hand-written one included).
//
// --no-memory-reducer: V8's memory reducer shrinks a heap it judges idle with full collections
// some 8 s after the last one, and again from a watchdog about every 100 s. A serving process
// at light load is what it judges idle: at 200 q/s a traced server (`node --trace-gc`) did a
// "Mark-Compact (reduce)" pausing its main thread 8.6-13.1 ms, and its six instance threads
// theirs at the same moment, 5-16 ms each on two cores (docs/benchmark-tail.md, "The memory
// reducer"). Collections driven by allocation still run. The flag must be on the command line for
// the main thread (V8 sets a heap up once); the engine turns it off for its instance threads by
// itself (src/engine/thread-heap.ts), so a program that embeds the engine only needs it for its own.
export const SERVER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/** `argv` (Node flags) with the server flags added where missing. */
export function withServerNodeFlags(argv: readonly string[]): string[] {
  return [...SERVER_NODE_FLAGS.filter((f) => !argv.includes(f)), ...argv];
}

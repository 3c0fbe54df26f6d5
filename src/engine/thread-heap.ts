// Instance threads without V8's memory reducer. The reducer shrinks a heap that has gone quiet with
// a full collection some seconds after the heap grew or collected; every instance thread of an
// engine starts at the same moment, so their reducers fire together, and on a small machine six
// threads marking and compacting at once paused for 5-16 ms each, and every model run in flight
// waited (a p99.9 of 27 ms at 200 q/s where the originals take 1 ms; seen with `node --trace-gc`).
// An instance thread's heap is a few MiB that stays a few MiB: shrinking it buys nothing. V8 reads
// the flag when an isolate is set up, so setting it before the first thread starts covers every
// thread started after, and leaves the main thread's own heap as it was set up (docs/engine.md,
// "Instance threads and the memory reducer").
import { setFlagsFromString } from 'node:v8';

let applied = false;

/** Turns the memory reducer off for isolates created from now on (idempotent; process-wide). */
export function quietThreadHeaps(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--no-memory-reducer');
}

// Whether V8 may shrink this process's heap while the server is idle (its "memory reducer").
// Measured on the bundled deployment (bench:throughput records each probe's collections): after
// some 10-25 s without load, the reducer's compacting collection leaves the heap in a state where
// load brings a full mark-compact about every second (4 in a 6 s probe at 2400 q/s, each with
// 5-15 ms of pause and marking steps), and p99 goes from 3 to 10-16 ms until the process restarts;
// with the reducer off, none. A server is there to answer the next burst, so it is off while any
// server of this process runs (startServer's `idleHeapShrink: true` keeps V8's default), and V8's
// default is back once the last one closes. The flag is process-wide: V8 has no per-heap switch.
import v8 from 'node:v8';

let holders = 0;

/** Turns the memory reducer off until the returned release is called (once); nested holds count. */
export function holdIdleHeap(): () => void {
  if (holders++ === 0) v8.setFlagsFromString('--no-memory-reducer');
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) v8.setFlagsFromString('--memory-reducer');
  };
}

/** How many running servers hold the memory reducer off (0: V8's default applies). */
export function idleHeapHolders(): number {
  return holders;
}

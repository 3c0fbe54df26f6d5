// Float32 buffers on shared memory: worker-thread instances read a query's input from the
// engine's buffer without a copy (processes get a copy at the IPC boundary).

export function sharedFloats(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4));
}

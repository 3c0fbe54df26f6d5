// Float32 buffers for query inputs and task batches. Large ones live on shared memory, so that
// worker-thread instances read them without a copy; small ones (under SHARED_MIN_BYTES) are plain:
// posting a few KiB to a worker copies them faster than a SharedArrayBuffer can be allocated and
// collected. Child processes and remote instances get a copy either way.

export const SHARED_MIN_BYTES = 64 * 1024;

export function sharedFloats(n: number): Float32Array {
  return n * 4 >= SHARED_MIN_BYTES ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
}

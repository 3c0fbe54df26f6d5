// The engine's time source. Production uses the real clock; `parm simulate` and unit tests drive
// the same engine code with a simulated one, so that timing policies cannot drift between them.

/** An opaque timer handle of the clock that made it. */
export type TimerHandle = object;

export interface Clock {
  /** Milliseconds, monotonic (performance.now() on the real clock). */
  now(): number;
  /**
   * Calls `fn` once after `ms` milliseconds. `housekeeping` timers (alive checks, background
   * load) do not keep a real process alive; query timers do.
   */
  setTimeout(fn: () => void, ms: number, housekeeping?: boolean): TimerHandle;
  clearTimeout(handle: TimerHandle | null | undefined): void;
  /**
   * This clock's time of a stamp on the process's shared time line (`performance.timeOrigin +
   * performance.now()` on any thread: how a worker says when something happened); absent on a
   * clock that does not follow real time.
   */
  fromTimeLine?(ms: number): number;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms, housekeeping) => {
    const t = setTimeout(fn, ms);
    if (housekeeping) t.unref();
    return t;
  },
  clearTimeout: (h) => {
    if (h) clearTimeout(h as NodeJS.Timeout);
  },
  fromTimeLine: (ms) => ms - performance.timeOrigin,
};

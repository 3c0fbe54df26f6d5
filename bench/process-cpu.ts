// CPU time of a process so far, from /proc/PID/stat (Linux; clock ticks of 10 ms), for the
// benchmarks that charge a server process's CPU to the queries it answered.
import { readFileSync } from 'node:fs';

/** User and system CPU of a process so far, µs. */
export function cpuOf(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

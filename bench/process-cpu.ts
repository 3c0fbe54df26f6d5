// CPU time of a process, or of each of its threads, so far, from /proc (Linux; clock ticks of
// 10 ms), for the benchmarks that charge a server process's CPU to the queries it answered.
import { readdirSync, readFileSync } from 'node:fs';

/** User and system CPU of a process so far, µs. */
export function cpuOf(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 };
}

/** CPU ms (user + system) of every thread of a process, by OS thread id. */
export function threadCpu(pid: number): Map<number, number> {
  const tick = 10; // ms per clock tick (CLK_TCK 100 on Linux)
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), (Number(f[11]) + Number(f[12])) * tick);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

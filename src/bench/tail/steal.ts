// CPU time the hypervisor took from this (virtual) machine: the `steal` column of /proc/stat.
// On a VM whose vCPUs the host deschedules, every thread on a stolen vCPU stops for the
// milliseconds it lasts (the server's event loop included), which no coding can hide; the tail
// benchmark records it per run so that a tail made by the machine can be told apart.
import { readFileSync } from 'node:fs';

/** Steal and total CPU time (clock ticks, all CPUs) since boot; null where /proc/stat is unreadable. */
export function cpuTicks(): { steal: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user).
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || !f.every(Number.isFinite)) return null;
    return { steal: f[7]!, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/** Steal between two readings, % of all CPU time; null when either is missing or no time passed. */
export function stealPct(a: { steal: number; total: number } | null, b: { steal: number; total: number } | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return (100 * (b.steal - a.steal)) / (b.total - a.total);
}

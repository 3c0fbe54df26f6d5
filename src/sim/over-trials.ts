// A validation's runs taken together per mode and load, where it ran several real trials of each
// (`parm simulate --validate --validate-trials N`): the median over the trials of each real
// percentile against the median of the simulated ones, and the goals on those. One 10 s run's p99
// next to the disturbance's cliff moves from one trial to the next by more than the goal's 15 %
// (its count of disturbed answers is a few tens at most), so a single trial says how close the
// simulation came to that trial, and the medians how close it comes to the system.
import { spread } from '../bench/tail/stats.js';
import { relError, withinGoals, type Calibration, type Percentiles } from './validate-record.js';

/** One mode and load over its trials. */
export interface OverTrials {
  mode: string;
  rate: number;
  trials: number;
  real: Percentiles;
  simulated: Percentiles;
  error: Percentiles;
  met: boolean;
}

/** Each mode and load with more than one trial, in the order of their first run; empty where every one has a single trial. */
export function overTrials(rows: readonly Calibration[]): OverTrials[] {
  const groups = new Map<string, Calibration[]>();
  for (const r of rows) {
    const k = `${r.mode}\u0000${r.rate}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  const out: OverTrials[] = [];
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    // The median over trials as the tail benchmark takes it.
    const of = (f: (r: Calibration) => number): number => spread(g.map(f)).median;
    const real = { p50: of((r) => r.real.p50), p99: of((r) => r.real.p99), p999: of((r) => r.real.p999) };
    const simulated = { p50: of((r) => r.simulated.p50), p99: of((r) => r.simulated.p99), p999: of((r) => r.simulated.p999) };
    const error = { p50: relError(real.p50, simulated.p50), p99: relError(real.p99, simulated.p99), p999: relError(real.p999, simulated.p999) };
    out.push({ mode: g[0]!.mode, rate: g[0]!.rate, trials: g.length, real, simulated, error, met: withinGoals(error) });
  }
  return out;
}

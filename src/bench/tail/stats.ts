// Statistics of the tail benchmark: per-run latency percentiles (HdrHistogram, microsecond
// resolution, 3 significant digits), the p99.9 - p50 gap and its ratio against equal-resources,
// medians and spread across trials, and the done-when verdict.
import * as hdr from 'hdr-histogram-js';
import type { Mode } from '../../engine/types.js';

export interface LatencyStats {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Percentiles (ms) of latencies given in ms; max and mean are exact, percentiles within 0.1 %. */
export function summarize(latenciesMs: ArrayLike<number>): LatencyStats {
  const n = latenciesMs.length;
  if (n === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const h = hdr.build({ numberOfSignificantValueDigits: 3, useWebAssembly: false, lowestDiscernibleValue: 1, autoResize: true });
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = latenciesMs[i]!;
    sum += v;
    if (v > max) max = v;
    h.recordValue(Math.max(1, Math.round(v * 1000)));
  }
  const at = (p: number): number => Math.min(max, h.getValueAtPercentile(p) / 1000);
  const s = { count: n, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max, mean: sum / n };
  h.destroy();
  return s;
}

/** One run: a mode (and k) at one offered load in one trial. Field names are the JSON contract. */
export interface TrialRecord {
  mode: Mode;
  /** k of the coding group for `parm`; for equal-resources and hedged, the k whose instance count they match; null for `none`. */
  k: number | null;
  label: string;
  rate: number;
  trial: number;
  seed: number;
  instances: { deployed: number; parity: number };
  /** Answered queries with a prediction in the measured window. */
  queries: number;
  scheduled: number;
  errors: number;
  lost: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  mean_ms: number;
  /** p99.9 - p50. */
  gap_ms: number;
  /** gap of equal-resources (same rate, trial and seed) divided by this gap: how many times smaller this tail is. */
  gap_ratio_vs_equal_resources: number | null;
  /** p50 of this run divided by p50 of equal-resources in the same trial. */
  p50_ratio_vs_equal_resources: number | null;
  reconstructed_fraction: number;
  accuracy: number;
  offered_rate: number;
  /** How late the generator sent (p99, ms after the scheduled time) and its CPU use (% of one core). */
  send_lag_p99_ms: number;
  generator_cpu_pct: number;
  /**
   * CPU the server process used during the load (all threads: network, engine, instances), as %
   * of one core and per offered query (ms); null where it cannot be read (not Linux).
   */
  server_cpu_pct: number | null;
  server_cpu_ms_per_query: number | null;
  /**
   * Time the answers spent outside the engine (latency minus the engine's `parm_latency_ms`:
   * sending, transport, framing, parsing, the wait for the server's main thread), ms, at three
   * percentiles; null where the answers carried no engine latency.
   */
  outside_ms?: { p50: number; p99: number; p999: number } | null;
  /** CPU time the hypervisor stole from the machine during the run, % of all CPU time (/proc/stat); null where unreadable. */
  steal_pct?: number | null;
  /** `--topology hosts`: bulk transfers started during the run, and the mean rate their senders pushed (Mbit/s). */
  transfers?: number;
  transfer_mbit?: number | null;
}

/** Fills the two ratio fields of every record against its equal-resources partner. */
export function addRatios(records: TrialRecord[]): void {
  for (const r of records) {
    const partners = records.filter((e) => e.mode === 'equal-resources' && e.rate === r.rate && e.trial === r.trial);
    const er = partners.find((e) => e.k === r.k) ?? partners.find((e) => e.k === 2) ?? partners[0];
    r.gap_ratio_vs_equal_resources = er && r.gap_ms > 0 ? er.gap_ms / r.gap_ms : null;
    r.p50_ratio_vs_equal_resources = er && er.p50_ms > 0 ? r.p50_ms / er.p50_ms : null;
  }
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]! };
}

/** Medians and spread across the trials of one mode at one offered load. */
export interface Aggregate {
  label: string;
  mode: Mode;
  k: number | null;
  rate: number;
  trials: number;
  queries: number;
  errors: number;
  p50_ms: Spread;
  p90_ms: Spread;
  p99_ms: Spread;
  p999_ms: Spread;
  max_ms: Spread;
  mean_ms: Spread;
  gap_ms: Spread;
  gap_ratio_vs_equal_resources: Spread;
  p50_ratio_vs_equal_resources: Spread;
  reconstructed_fraction: Spread;
  accuracy: Spread;
  server_cpu_ms_per_query: Spread;
}

export function aggregate(records: readonly TrialRecord[]): Aggregate[] {
  const groups = new Map<string, TrialRecord[]>();
  for (const r of records) {
    const key = `${r.label}\u0000${r.rate}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const out: Aggregate[] = [];
  for (const rs of groups.values()) {
    const f = (get: (r: TrialRecord) => number | null): Spread => spread(rs.map((r) => get(r) ?? NaN));
    const first = rs[0]!;
    out.push({
      label: first.label,
      mode: first.mode,
      k: first.k,
      rate: first.rate,
      trials: rs.length,
      queries: rs.reduce((a, r) => a + r.queries, 0),
      errors: rs.reduce((a, r) => a + r.errors + r.lost, 0),
      p50_ms: f((r) => r.p50_ms),
      p90_ms: f((r) => r.p90_ms),
      p99_ms: f((r) => r.p99_ms),
      p999_ms: f((r) => r.p999_ms),
      max_ms: f((r) => r.max_ms),
      mean_ms: f((r) => r.mean_ms),
      gap_ms: f((r) => r.gap_ms),
      gap_ratio_vs_equal_resources: f((r) => r.gap_ratio_vs_equal_resources),
      p50_ratio_vs_equal_resources: f((r) => r.p50_ratio_vs_equal_resources),
      reconstructed_fraction: f((r) => r.reconstructed_fraction),
      accuracy: f((r) => r.accuracy),
      server_cpu_ms_per_query: f((r) => r.server_cpu_ms_per_query),
    });
  }
  return out;
}

/** The done-when, checked at one offered load: parm k=2 against equal-resources. */
export interface Verdict {
  rate: number;
  trials: number;
  /** Median across trials of equal-resources' gap and of parm k=2's gap (ms). */
  er_gap_ms: number;
  parm_gap_ms: number;
  /** Per-trial gap ratios (ER gap / parm gap), and their minimum and median. */
  gap_ratios: number[];
  gap_ratio_min: number;
  gap_ratio_median: number;
  /** Per-trial |p50(parm) / p50(ER) - 1|, and the largest. */
  p50_diffs: number[];
  p50_diff_max: number;
  /** |median across trials of parm's p50 / the same of ER's - 1|: the median compared across trials. */
  p50_diff_of_medians: number;
  /**
   * The done-when: parm k=2's gap at least TARGET_GAP_RATIO times shorter in every trial, and its
   * median (p50, taken across trials) within MEDIAN_TOLERANCE of equal-resources'.
   */
  pass: boolean;
}

export const TARGET_GAP_RATIO = 3.5;
export const MEDIAN_TOLERANCE = 0.1;

export function verdicts(records: readonly TrialRecord[]): Verdict[] {
  const rates = [...new Set(records.map((r) => r.rate))].sort((a, b) => a - b);
  const out: Verdict[] = [];
  for (const rate of rates) {
    const parm = records.filter((r) => r.rate === rate && r.mode === 'parm' && r.k === 2);
    const er = records.filter((r) => r.rate === rate && r.mode === 'equal-resources' && (r.k === 2 || r.k === null));
    const pairs = parm
      .map((p) => [p, er.find((e) => e.trial === p.trial)] as const)
      .filter((x): x is readonly [TrialRecord, TrialRecord] => x[1] !== undefined);
    if (pairs.length === 0) continue;
    const gapRatios = pairs.map(([p, e]) => (p.gap_ms > 0 ? e.gap_ms / p.gap_ms : NaN));
    const p50Diffs = pairs.map(([p, e]) => Math.abs(p.p50_ms / e.p50_ms - 1));
    const gr = spread(gapRatios);
    const p50Medians = Math.abs(spread(pairs.map(([p]) => p.p50_ms)).median / spread(pairs.map(([, e]) => e.p50_ms)).median - 1);
    out.push({
      rate,
      trials: pairs.length,
      er_gap_ms: spread(pairs.map(([, e]) => e.gap_ms)).median,
      parm_gap_ms: spread(pairs.map(([p]) => p.gap_ms)).median,
      gap_ratios: gapRatios,
      gap_ratio_min: gr.min,
      gap_ratio_median: gr.median,
      p50_diffs: p50Diffs,
      p50_diff_max: Math.max(...p50Diffs),
      p50_diff_of_medians: p50Medians,
      pass: gapRatios.every((g) => g >= TARGET_GAP_RATIO) && p50Medians <= MEDIAN_TOLERANCE,
    });
  }
  return out;
}

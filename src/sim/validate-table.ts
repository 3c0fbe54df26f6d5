// The table `parm simulate --validate(-from)` prints: real against simulated percentiles per run and
// the verdict, with how precisely each real run measured its tail, the time outside the engine,
// how the work spread over the instances, and, with several trials, the medians over them.
import { overTrials, type OverTrials } from './over-trials.js';
import { GOALS, type Calibration, type Percentiles } from './validate-record.js';

const pct0 = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(0)} %`);

function worstMismatch(rows: Calibration[], role: 'deployed' | 'parity'): number | null {
  const values = rows.map((r) => r.simulated.run_time_mismatch?.[role]).filter((x): x is number => typeof x === 'number');
  return values.length ? Math.max(...values) : null;
}

/** The Markdown table of real against simulated percentiles, and the verdict. */
export function formatValidateTable(rows: Calibration[]): string {
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const lines = [
    `| mode | q/s | real p50 | sim p50 | err | real p99 | sim p99 | err | real p99.9 | sim p99.9 | err | within goal |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.rate} | ${r.real.p50.toFixed(3)} | ${r.simulated.p50.toFixed(3)} | ${pct(r.error.p50)} | ${r.real.p99.toFixed(2)} | ${r.simulated.p99.toFixed(2)} | ${pct(r.error.p99)} | ` +
        `${r.real.p999.toFixed(2)} | ${r.simulated.p999.toFixed(2)} | ${pct(r.error.p999)} | ${r.met ? 'yes' : 'no'} |`,
    ),
    '',
    ...precisionTable(rows),
    ...outsideSummary(rows),
    ...spreadTable(rows),
    windowLine(rows),
    `run times the simulated engine measured against the real ones: within ${pct0(worstMismatch(rows, 'deployed'))} (deployed), ${pct0(worstMismatch(rows, 'parity'))} (parity) at p = 0.1 ... 0.9`,
    `goals: p50 and p99 within ${GOALS.p50 * 100} %, p99.9 within ${GOALS.p999 * 100} %; ${rows.filter((r) => r.met).length} of ${rows.length} runs within them`,
    ...overTrialsTable(overTrials(rows)),
  ];
  return lines.join('\n');
}

/** The medians over each mode and load's trials, real against simulated, and the goals on them (nothing with one trial each). */
function overTrialsTable(groups: OverTrials[]): string[] {
  if (groups.length === 0) return [];
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  return [
    '',
    'medians over the trials of each mode and load:',
    '| mode | q/s | trials | real p50 | sim p50 | err | real p99 | sim p99 | err | real p99.9 | sim p99.9 | err | within goal |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...groups.map(
      (g) =>
        `| ${g.mode} | ${g.rate} | ${g.trials} | ${g.real.p50.toFixed(3)} | ${g.simulated.p50.toFixed(3)} | ${pct(g.error.p50)} | ${g.real.p99.toFixed(2)} | ${g.simulated.p99.toFixed(2)} | ${pct(g.error.p99)} | ` +
        `${g.real.p999.toFixed(2)} | ${g.simulated.p999.toFixed(2)} | ${pct(g.error.p999)} | ${g.met ? 'yes' : 'no'} |`,
    ),
    `goals on the medians over trials: ${groups.filter((g) => g.met).length} of ${groups.length} modes and loads within them`,
  ];
}

/** Which run-time tables the simulations drew from: the measured window or the server's whole life. */
function windowLine(rows: Calibration[]): string {
  const measured = rows.filter((r) => (r.simulated.run_time_window ?? 'process') === 'measured').length;
  const what = measured === rows.length ? 'the measured window' : measured === 0 ? "the servers' whole life, warm-up included" : `the measured window in ${measured} of ${rows.length} runs, the servers' whole life in the others`;
  return `run-time tables simulated with: ${what}`;
}

/**
 * The time the real answers spent outside the engine, where the record has it per answer: its
 * median and tail, and how it moves with the engine's latency (rank correlation).
 */
function outsideSummary(rows: Calibration[]): string[] {
  const known = rows.filter((r) => r.service.frontend);
  if (known.length === 0) return [];
  const at = (r: Calibration, x: number): string => {
    const t = r.service.frontend!;
    const i = (t.p ?? []).indexOf(x);
    return i < 0 ? '-' : t.quantiles[i]!.toFixed(2);
  };
  const rho = (r: Calibration): string => (typeof r.service.outside_engine_correlation === 'number' ? r.service.outside_engine_correlation.toFixed(2) : '-');
  // The engine's p99 over the whole run (its histograms, warm-up included, which the service tables share) and over the measured answers alone.
  const p99 = (e: Percentiles | null | undefined): string => (e ? e.p99.toFixed(2) : '-');
  return [
    '| mode | q/s | outside the engine p50 | p99 | p99.9 | rank correlation with the engine latency | engine p99, whole run | measured answers | sim |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...known.map((r) => `| ${r.mode} | ${r.rate} | ${at(r, 0.5)} | ${at(r, 0.99)} | ${at(r, 0.999)} | ${rho(r)} | ${p99(r.service.engine_latency?.all)} | ${p99(r.service.engine_latency_measured)} | ${p99(r.simulated.engine_latency.all)} |`),
    '',
  ];
}

/**
 * How the work was spread over the instances, real against simulated, where the record has the
 * real counts: runs per instance in instance order, and the busiest deployed instance's share.
 */
function spreadTable(rows: Calibration[]): string[] {
  const known = rows.filter((r) => r.real.instance_runs && r.simulated.instance_runs);
  if (known.length === 0) return [];
  const list = (xs: number[]): string => (xs.length ? xs.map((x) => Math.round(x)).join(' ') : '-');
  const share = (xs: number[]): string => {
    const total = xs.reduce((a, b) => a + b, 0);
    return total > 0 ? `${((Math.max(...xs) / total) * 100).toFixed(0)} %` : '-';
  };
  return [
    '| mode | q/s | runs per deployed instance real | sim | busiest real | sim | runs per parity instance real | sim |',
    '|---|---:|---|---|---:|---:|---|---|',
    ...known.map((r) => {
      const real = r.real.instance_runs!;
      const sim = r.simulated.instance_runs!;
      return `| ${r.mode} | ${r.rate} | ${list(real.deployed)} | ${list(sim.deployed)} | ${share(real.deployed)} | ${share(sim.deployed)} | ${list(real.parity)} | ${list(sim.parity)} |`;
    }),
    '',
  ];
}

/**
 * How precisely each real run measured its tail, where the record says (a validation since the
 * 95 % intervals): each tail percentile's interval, whether the simulated value is inside it
 * (and, with replications, the simulated range), and the fraction of answers a disturbance
 * caught, real against simulated.
 */
function precisionTable(rows: Calibration[]): string[] {
  const known = rows.filter((r) => r.real.ci95);
  if (known.length === 0) return [];
  const reps = known.some((r) => r.simulated.replications);
  const cell = (r: Calibration, k: 'p99' | 'p999'): string => {
    const [lo, hi] = r.real.ci95![k];
    const range = r.simulated.replications?.[k];
    return `${lo.toFixed(2)}-${hi.toFixed(2)} | ${r.simulated.within_real_ci?.[k] ? 'in' : 'out'}${reps ? ` | ${range ? `${range[0].toFixed(2)}-${range[1].toFixed(2)}` : '-'}` : ''}`;
  };
  const frac = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(2)} %`);
  const sim = reps ? ' | sim range' : '';
  return [
    `| mode | q/s | real p99 95 % interval | sim${sim} | real p99.9 95 % interval | sim${sim} | answers > ${known[0]!.real.slow_ms ?? '-'} ms real | sim |`,
    `|---|---:|---:|---|${reps ? '---:|' : ''}---:|---|${reps ? '---:|' : ''}---:|---:|`,
    ...known.map((r) => `| ${r.mode} | ${r.rate} | ${cell(r, 'p99')} | ${cell(r, 'p999')} | ${frac(r.real.slow_fraction)} | ${frac(r.simulated.slow_fraction)} |`),
    '',
  ];
}

// `parm simulate --validate`: a short real `parm bench tail` here (equal-resources and parm k = 2
// on the bundled default deployment, the default background), the service times its servers
// measured (parm_engine_run_time_ms, injected delays left out) and the time outside the engine,
// then the simulation of the same runs with them, side by side, and the error per percentile.
import { join } from 'node:path';
import { ParmError } from '../errors.js';
import { defaultOptions, parseModes } from '../bench/tail/options.js';
import { runTailBenchmark, startParmTarget, type RunSpec } from '../bench/tail/run.js';
import type { TrialRecord } from '../bench/tail/stats.js';
import { RUN_TIME_QUANTILES } from '../engine/metrics.js';
import { empirical, fixed, type QuantileTable } from './service-times.js';
import { simulate, type SimResult } from './simulate.js';

/** Calibration goals: relative error of the simulation per percentile. */
export const GOALS = { p50: 0.15, p99: 0.15, p999: 0.25 };

export interface Calibration {
  mode: string;
  rate: number;
  real: { p50: number; p99: number; p999: number };
  simulated: { p50: number; p99: number; p999: number };
  error: { p50: number; p99: number; p999: number };
  service: { deployed: QuantileTable; parity: QuantileTable | null; frontend_ms: number };
  met: boolean;
}

/** What one server measured: run-time tables per role and the engine's median latency. */
interface Scraped {
  deployed: QuantileTable | null;
  parity: QuantileTable | null;
  engineP50: number | null;
}

/** Reads parm_engine_run_time_ms and the engine's p50 from a Prometheus text scrape. */
export function parseScrape(text: string, model: string): Scraped {
  const tables: Record<string, number[]> = {};
  let engineP50: number | null = null;
  for (const line of text.split('\n')) {
    const m = /^(parm_engine_run_time_ms|parm_engine_latency_ms)\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (labels['model'] !== model) continue;
    const v = Number(m[3]);
    if (m[1] === 'parm_engine_latency_ms') {
      if (labels['kind'] === 'all' && labels['quantile'] === '0.5') engineP50 = v;
      continue;
    }
    const i = RUN_TIME_QUANTILES.indexOf(Number(labels['quantile']));
    if (i < 0) continue;
    (tables[labels['role']!] ??= new Array<number>(RUN_TIME_QUANTILES.length).fill(NaN))[i] = v;
  }
  const table = (role: string): QuantileTable | null => {
    const q = tables[role];
    return q && q.every(Number.isFinite) ? { p: [...RUN_TIME_QUANTILES], quantiles: q } : null;
  };
  return { deployed: table('deployed'), parity: table('parity'), engineP50 };
}

const key = (r: { label: string; rate: number; trial: number }): string => `${r.label}@${r.rate}#${r.trial}`;

export async function runValidation(o: { rates: number[]; seconds: number; seed: number; out: string; json: boolean }): Promise<Calibration[]> {
  const opts = {
    ...defaultOptions(false),
    modes: parseModes('equal-resources,parm:2'),
    rates: o.rates,
    trials: 1,
    warmupMs: 2000,
    durationMs: 2000 + o.seconds * 1000,
    seed: o.seed,
    charts: false,
    outDir: join(o.out, 'validate-bench'),
  };
  const scraped = new Map<string, Scraped>();
  const runs = new Map<string, RunSpec>();
  process.stderr.write(`parm simulate --validate: real runs (${opts.modes.map((m) => m.label).join(', ')} at ${o.rates.join(', ')} q/s, ${o.seconds} s each)\n`);
  const outcome = await runTailBenchmark(opts, {
    startTarget: async (run, options, dir) => {
      const target = await startParmTarget(run, options, dir);
      const base = target.wsUrl.replace(/^ws/, 'http').replace(/\/v2\/.*$/, '');
      runs.set(key({ label: run.spec.label, rate: run.rate, trial: run.trial }), run);
      return {
        ...target,
        stop: async () => {
          try {
            const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) });
            scraped.set(key({ label: run.spec.label, rate: run.rate, trial: run.trial }), parseScrape(await res.text(), options.deployment));
          } finally {
            await target.stop();
          }
        },
      };
    },
    onRunEnd: (run, r) => process.stderr.write(`  real ${run.spec.label} @ ${run.rate} q/s: p50 ${r.p50_ms.toFixed(3)} p99 ${r.p99_ms.toFixed(2)} p99.9 ${r.p999_ms.toFixed(2)} ms\n`),
  });
  const out: Calibration[] = [];
  for (const rec of outcome.records) {
    const k = key(rec);
    const s = scraped.get(k);
    const run = runs.get(k);
    if (!s?.deployed || !run) throw new ParmError('PARM_ERR_CLI_USAGE', `--validate: the server of ${k} reported no run times (is it an older parm?)`);
    const frontendMs = Math.max(0, rec.p50_ms - (s.engineP50 ?? rec.p50_ms));
    const sim = await simulate({
      mode: rec.mode,
      k: rec.k ?? 2,
      r: 1,
      instances: opts.instances,
      rate: rec.rate,
      queries: Math.round((rec.rate * opts.durationMs) / 1000),
      warmupQueries: Math.round((rec.rate * opts.warmupMs) / 1000),
      service: { deployed: empirical(s.deployed, 'deployed, measured'), parity: s.parity ? empirical(s.parity, 'parity, measured') : empirical(s.deployed) },
      frontend: fixed(frontendMs),
      stragglers: opts.background ? { background: { ...opts.background, seed: run.seed } } : {},
      seed: run.seed,
    });
    out.push(calibration(rec, sim, s, frontendMs));
  }
  print(out, o.json);
  return out;
}

function calibration(rec: TrialRecord, sim: SimResult, s: Scraped, frontendMs: number): Calibration {
  const real = { p50: rec.p50_ms, p99: rec.p99_ms, p999: rec.p999_ms };
  const simulated = { p50: sim.p50, p99: sim.p99, p999: sim.p999 };
  const err = (a: number, b: number): number => (b - a) / a;
  const error = { p50: err(real.p50, simulated.p50), p99: err(real.p99, simulated.p99), p999: err(real.p999, simulated.p999) };
  const met = Math.abs(error.p50) <= GOALS.p50 && Math.abs(error.p99) <= GOALS.p99 && Math.abs(error.p999) <= GOALS.p999;
  return { mode: rec.label, rate: rec.rate, real, simulated, error, service: { deployed: s.deployed!, parity: s.parity, frontend_ms: frontendMs }, met };
}

function print(rows: Calibration[], json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ goals: GOALS, calibration: rows }, null, 2)}\n`);
    return;
  }
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
    `goals: p50 and p99 within ${GOALS.p50 * 100} %, p99.9 within ${GOALS.p999 * 100} %; ${rows.filter((r) => r.met).length} of ${rows.length} runs within them`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

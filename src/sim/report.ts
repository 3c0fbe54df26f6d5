// What `parm simulate` prints and writes: the same fields as `parm bench tail` per mode, k, r,
// fleet size and load (JSON and a Markdown table), and the charts: the gap cut against k and
// against fleet size, and the median against load.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg, svgToPng } from '../bench/tail/charts.js';
import { machineInfo, type MachineInfo } from '../bench/tail/report.js';
import type { SimPlan, SimRecord } from './plan.js';

export interface SimReport {
  kind: 'parm-simulate';
  machine: MachineInfo;
  plan: {
    modes: string[];
    instances: number[];
    loads: SimPlan['loads'];
    queries: number;
    seed: number;
    service: { deployed: string; parity: string; frontend: string | null };
    /** The shared cores (null: a core per instance). */
    cpu: { cores: number; parity_nice: number; cpu_per_query: string | null } | null;
    stragglers: SimPlan['stragglers'];
  };
  results: SimRecord[];
}

export function buildSimReport(plan: SimPlan, results: SimRecord[]): SimReport {
  return {
    kind: 'parm-simulate',
    machine: machineInfo(),
    plan: {
      modes: [...new Set(results.map((r) => r.label))],
      instances: plan.instances,
      loads: plan.loads,
      queries: plan.queries,
      seed: plan.seed,
      service: { deployed: plan.service.deployed.describe, parity: plan.service.parity.describe, frontend: plan.frontend?.describe ?? null },
      cpu: plan.cpu ? { cores: plan.cpu.cores, parity_nice: plan.cpu.parityNice, cpu_per_query: plan.cpu.perQuery?.describe ?? null } : null,
      stragglers: plan.stragglers,
    },
    results,
  };
}

const f = (x: number | null, d = 2): string => (x === null || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(d));

/** One Markdown table per fleet size and load. */
export function formatSimTable(report: SimReport): string {
  const out: string[] = [];
  const keys = [...new Set(report.results.map((r) => `${r.m}|${r.load}`))];
  for (const key of keys) {
    const rows = report.results.filter((r) => `${r.m}|${r.load}` === key);
    const r0 = rows[0]!;
    const load = report.plan.loads.kind === 'rate' ? `${r0.load} q/s` : `utilisation ${r0.load} (${f(r0.rate, 0)} q/s)`;
    out.push(`**${r0.m} deployed instances, ${load}** (${r0.queries} queries measured; ms)`, '');
    out.push('| mode | instances | overhead | p50 | p99 | p99.9 | p99.9 - p50 | gap ER / mode | p50 / ER | reconstructed | sim s | wall s |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      out.push(
        `| ${r.label} | ${r.instances.deployed}+${r.instances.parity} | ${f(r.resource_overhead * 100, 0)} % | ${f(r.p50, 3)} | ${f(r.p99)} | ${f(r.p999)} | ${f(r.gap_ms)} | ` +
          `${f(r.gap_ratio_vs_equal_resources)}x | ${f(r.p50_ratio_vs_equal_resources, 3)} | ${f(r.reconstructed_fraction * 100, 2)} % | ${f(r.simulated_s, 1)} | ${f(r.wall_s, 1)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

const CONFIG = { background: 'white', font: 'DejaVu Sans', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 } } as const;

/** Gap cut (equal-resources' gap / parm's) against k, one line per r, at each fleet size. */
function gapVsKSpec(report: SimReport, load: number): TopLevelSpec {
  const values = report.results
    .filter((r) => r.mode === 'parm' && r.load === load && r.gap_ratio_vs_equal_resources !== null)
    .map((r) => ({ k: r.k, r: `r = ${r.r}`, fleet: `${r.m} deployed`, cut: r.gap_ratio_vs_equal_resources }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Tail cut by parm against k', subtitle: `(p99.9 - p50) of equal-resources / of parm; load ${load}` },
    data: { values },
    width: 360,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'k', type: 'ordinal', title: 'k (queries per parity)' },
      y: { field: 'cut', type: 'quantitative', title: 'gap cut (x)', scale: { zero: true } },
      color: { field: 'fleet', type: 'nominal', title: null },
      strokeDash: { field: 'r', type: 'nominal', title: null },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Gap cut of every mode against the fleet size. */
function gapVsFleetSpec(report: SimReport, load: number): TopLevelSpec {
  const values = report.results
    .filter((r) => r.load === load && r.mode !== 'equal-resources' && r.gap_ratio_vs_equal_resources !== null)
    .map((r) => ({ m: r.m, mode: r.label, cut: r.gap_ratio_vs_equal_resources }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Tail cut against fleet size', subtitle: `(p99.9 - p50) of equal-resources / of the mode; load ${load}` },
    data: { values },
    width: 360,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'm', type: 'quantitative', title: 'deployed instances', scale: { type: 'log' } },
      y: { field: 'cut', type: 'quantitative', title: 'gap cut (x)', scale: { zero: true } },
      color: { field: 'mode', type: 'nominal', title: null },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Median latency of every mode against the load, at one fleet size. */
function medianVsLoadSpec(report: SimReport, m: number): TopLevelSpec {
  const values = report.results.filter((r) => r.m === m).map((r) => ({ load: r.load, mode: r.label, p50: r.p50 }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Median latency against load', subtitle: `${m} deployed instances` },
    data: { values },
    width: 360,
    height: 240,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'load', type: 'quantitative', title: report.plan.loads.kind === 'rate' ? 'queries/s' : 'utilisation of the deployed instances' },
      y: { field: 'p50', type: 'quantitative', title: 'p50 (ms)', scale: { zero: false } },
      color: { field: 'mode', type: 'nominal', title: null },
    },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Writes report.json, report.md and the charts (SVG and PNG) into `dir`; returns the paths. */
export async function writeSimReport(report: SimReport, dir: string, charts: boolean): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written = [join(dir, 'simulate.json'), join(dir, 'simulate.md')];
  writeFileSync(written[0]!, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(written[1]!, formatSimTable(report));
  if (!charts) return written;
  const loads = report.plan.loads.values;
  const head = loads[Math.floor(loads.length / 2)]!;
  const fleets = report.plan.instances;
  const specs: [string, TopLevelSpec][] = [];
  if (report.results.some((r) => r.mode === 'parm')) specs.push(['simulate-gap-vs-k', gapVsKSpec(report, head)]);
  if (fleets.length > 1) specs.push(['simulate-gap-vs-fleet', gapVsFleetSpec(report, head)]);
  if (loads.length > 1) specs.push(['simulate-median-vs-load', medianVsLoadSpec(report, fleets[fleets.length - 1]!)]);
  for (const [name, spec] of specs) {
    const svg = await renderSvg(spec);
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
    written.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  }
  return written;
}

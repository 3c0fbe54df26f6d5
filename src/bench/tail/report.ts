// The tail benchmark's outputs other than charts: the machine it ran on, the JSON report object
// (`--json`, and report.json in --out), and the terminal table of medians and spread.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch, cpus, freemem, getPriority, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { TopologyRecord } from './hosts.js';
import type { TailBenchOptions } from './options.js';
import { packageRoot } from '../../package-root.js';
import { aggregate, verdicts, type Aggregate, type Spread, type TrialRecord, type Verdict, TARGET_GAP_RATIO, MEDIAN_TOLERANCE } from './stats.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memory_gib: number;
  free_memory_gib: number;
  os: string;
  node: string;
  load_average: number[];
  /** Scheduling priority (nice) the benchmark ran at; its servers and generators inherit it. */
  nice: number;
  packages: Record<string, string>;
  commit: string | null;
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'node_modules', name, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return 'absent';
  }
}

export function machineInfo(): MachineInfo {
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: packageRoot(), stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    commit = null;
  }
  const parm = (() => {
    try {
      return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  })();
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    free_memory_gib: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    load_average: loadavg().map((x) => Math.round(x * 100) / 100),
    nice: getPriority(),
    packages: {
      parm,
      'onnxruntime-node': packageVersion('onnxruntime-node'),
      'uWebSockets.js': packageVersion('uWebSockets.js'),
      ws: packageVersion('ws'),
      'hdr-histogram-js': packageVersion('hdr-histogram-js'),
    },
    commit,
  };
}

export interface TailReport {
  benchmark: 'parm bench tail';
  started_at: string;
  finished_at: string;
  command: string;
  machine: MachineInfo;
  /** Load average when the benchmark ended (the machine may be shared). */
  load_average_end: number[];
  options: Omit<TailBenchOptions, 'modes'> & { modes: string[] };
  /** Where the instances ran: `local` (threads of one parm serve), or the hosts, links and transfer schedule. */
  topology: { kind: 'local' } | TopologyRecord;
  /** One record per mode, k, offered load and trial. */
  results: TrialRecord[];
  /** Medians and spread (min, max) across trials. */
  summary: Aggregate[];
  /** The done-when check at each offered load: parm k=2 vs equal-resources. */
  verdict: Verdict[];
  criteria: { gap_ratio_at_least: number; p50_within: number };
  headline_rate: number | null;
  charts: string[];
  errors: string[];
}

/** The load whose equal-resources run shows the clearest tail (largest median gap over its p50). */
export function headlineRate(summary: readonly Aggregate[]): number | null {
  const er = summary.filter((a) => a.mode === 'equal-resources');
  const pool = er.length > 0 ? er : summary;
  let best: Aggregate | null = null;
  for (const a of pool) if (!best || a.gap_ms.median / a.p50_ms.median > best.gap_ms.median / best.p50_ms.median) best = a;
  return best ? best.rate : null;
}

export function buildReport(args: {
  startedAt: Date;
  command: string;
  machine: MachineInfo;
  options: TailBenchOptions;
  topology?: TopologyRecord | null;
  records: TrialRecord[];
  charts: string[];
  errors: string[];
}): TailReport {
  const summary = aggregate(args.records);
  return {
    benchmark: 'parm bench tail',
    started_at: args.startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    command: args.command,
    machine: args.machine,
    load_average_end: loadavg().map((x) => Math.round(x * 100) / 100),
    options: { ...args.options, modes: args.options.modes.map((m) => m.label) },
    topology: args.topology ?? { kind: 'local' },
    results: args.records,
    summary,
    verdict: verdicts(args.records),
    criteria: { gap_ratio_at_least: TARGET_GAP_RATIO, p50_within: MEDIAN_TOLERANCE },
    headline_rate: headlineRate(summary),
    charts: args.charts,
    errors: args.errors,
  };
}

function num(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(digits);
}

function withSpread(s: Spread, trials: number): string {
  return trials > 1 ? `${num(s.median)} [${num(s.min)}-${num(s.max)}]` : num(s.median);
}

function pad(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

/** Rows of one offered load's block: a header, then a row per mode. */
function blockRows(report: TailReport, rate: number): { rows: string[][]; trials: number } {
  const aggs = report.summary.filter((a) => a.rate === rate);
  const trials = Math.max(...aggs.map((r) => r.trials));
  const rows: string[][] = [['mode', 'inst', 'queries', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'gap p99.9-p50', 'gap ER/mode', 'recon %', 'acc %', 'err', 'cpu ms/q']];
  for (const a of aggs) {
    const rec = report.results.find((r) => r.label === a.label && r.rate === rate)!;
    rows.push([
      a.label,
      `${rec.instances.deployed}+${rec.instances.parity}`,
      String(a.queries),
      withSpread(a.p50_ms, trials),
      num(a.p90_ms.median),
      num(a.p99_ms.median),
      withSpread(a.p999_ms, trials),
      num(a.max_ms.median),
      num(a.mean_ms.median),
      withSpread(a.gap_ms, trials),
      Number.isFinite(a.gap_ratio_vs_equal_resources.median) ? `${num(a.gap_ratio_vs_equal_resources.median)}x` : '-',
      num(a.reconstructed_fraction.median * 100, 1),
      num(a.accuracy.median * 100, 1),
      String(a.errors),
      num(a.server_cpu_ms_per_query.median, 3),
    ]);
  }
  return { rows, trials };
}

/** The summary as Markdown tables (for docs): one per offered load. */
export function formatMarkdown(report: TailReport): string {
  const out: string[] = [];
  for (const rate of [...new Set(report.summary.map((a) => a.rate))].sort((a, b) => a - b)) {
    const { rows, trials } = blockRows(report, rate);
    out.push(`Offered load ${rate} queries/s, ${trials} trial${trials > 1 ? 's' : ''}${trials > 1 ? ' (median [min-max])' : ''}, latency in ms:`, '');
    out.push(`| ${rows[0]!.join(' | ')} |`, `|${rows[0]!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const r of rows.slice(1)) out.push(`| ${r.join(' | ')} |`);
    out.push('');
  }
  return out.join('\n');
}

/** The terminal table: one block per offered load, latencies in ms, median [min-max] across trials. */
export function formatTable(report: TailReport): string {
  const lines: string[] = [];
  const m = report.machine;
  lines.push(
    `parm bench tail: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.load_average.join(' ')} -> ${report.load_average_end.join(' ')}` +
      (m.nice !== 0 ? `, nice ${m.nice}` : ''),
  );
  const bg = report.options.background;
  lines.push(
    `background: ${bg ? `${bg.kind} width ${bg.width}, every ${bg.periodMs} ms for ${bg.duty * 100}% of it, intensity ${bg.intensity}${bg.kind === 'delay' ? ' ms' : ''}, targets ${bg.targets ?? 'all'}` : 'off'}; ` +
      `${report.options.durationMs / 1000} s per run (${report.options.warmupMs / 1000} s warm-up), seed ${report.options.seed}`,
  );
  const topo = report.topology;
  if (topo.kind === 'hosts') {
    const tr = topo.transfers;
    lines.push(
      `topology: hosts on ${topo.subnet} (${topo.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}), every downlink ${topo.link.mbit} Mbit/s ` +
        `(tbf, ${topo.link.latency_ms} ms queue, ${topo.link.burst_bytes} B bucket); ` +
        (tr ? `transfers: every ${tr.period_ms} ms one random pair of ${tr.between.join(' ')} for ${tr.duration_ms} ms` : 'no transfers'),
    );
  }
  const rates = [...new Set(report.summary.map((a) => a.rate))].sort((a, b) => a - b);
  for (const rate of rates) {
    const { rows: table, trials } = blockRows(report, rate);
    lines.push('');
    lines.push(`offered load ${rate} queries/s, ${trials} trial${trials > 1 ? 's' : ''}${trials > 1 ? ' (median [min-max])' : ''}, latency ms`);
    lines.push(pad(table));
    const recs = report.results.filter((r) => r.rate === rate);
    lines.push(
      `load generator: send lag p99 up to ${num(Math.max(...recs.map((r) => r.send_lag_p99_ms)))} ms after schedule, ` +
        `CPU up to ${num(Math.max(...recs.map((r) => r.generator_cpu_pct)), 1)} % of a core` +
        (recs.some((r) => typeof r.steal_pct === 'number') ? `; hypervisor steal up to ${num(Math.max(...recs.map((r) => r.steal_pct ?? 0)), 2)} % of CPU time` : ''),
    );
  }
  if (report.verdict.length > 0) {
    lines.push('');
    lines.push(`done-when (parm k=2 gap >= ${TARGET_GAP_RATIO}x smaller than equal-resources in every trial, median p50 across trials within ${MEDIAN_TOLERANCE * 100}%):`);
    for (const v of report.verdict) {
      lines.push(
        `  ${v.rate} q/s: gap ER ${num(v.er_gap_ms)} ms vs parm ${num(v.parm_gap_ms)} ms, ratio per trial ${v.gap_ratios.map((g) => `${num(g)}x`).join(' ')}, ` +
          `p50 of the trials' medians ${num(v.p50_diff_of_medians * 100, 1)}% apart (single trials up to ${num(v.p50_diff_max * 100, 1)}%): ${v.pass ? 'PASS' : 'not met'}`,
      );
    }
  }
  if (report.errors.length > 0) {
    lines.push('');
    lines.push('errors (first few):');
    for (const e of report.errors) lines.push(`  ${e}`);
  }
  if (report.charts.length > 0) {
    lines.push('');
    lines.push(`charts: ${report.charts.join(', ')}`);
  }
  return lines.join('\n');
}

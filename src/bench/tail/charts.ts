// Charts of the tail benchmark, drawn without a browser: Vega-Lite specs compiled to Vega,
// rendered headless to SVG (view.toSVG) and rasterised to PNG with resvg.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TailReport } from './report.js';

type Spec = vl.TopLevelSpec;

const PERCENTILES: ReadonlyArray<[string, 'p50_ms' | 'p90_ms' | 'p99_ms' | 'p999_ms']> = [
  ['p50', 'p50_ms'],
  ['p90', 'p90_ms'],
  ['p99', 'p99_ms'],
  ['p99.9', 'p999_ms'],
];

const CONFIG = { background: 'white', font: 'DejaVu Sans', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 } } as const;

function colorScale(labels: string[]): { domain: string[]; scheme: string } {
  return { domain: labels, scheme: 'tableau10' };
}

/** Latency percentiles per mode (medians across trials, min-max whiskers), one panel per load. */
export function percentilesSpec(report: TailReport): Spec {
  const labels = report.options.modes;
  const values = report.summary.flatMap((a) =>
    PERCENTILES.map(([name, key]) => ({ mode: a.label, rate: `${a.rate} q/s`, percentile: name, ms: a[key].median, lo: a[key].min, hi: a[key].max })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Latency percentiles per mode', subtitle: 'median across trials, whiskers min-max; log scale' },
    data: { values },
    facet: { column: { field: 'rate', type: 'ordinal', title: 'offered load', sort: report.options.rates.map((r) => `${r} q/s`) } },
    spec: {
      width: 260,
      height: 280,
      encoding: {
        x: { field: 'percentile', type: 'ordinal', sort: PERCENTILES.map(([n]) => n), title: null, scale: { type: 'point', padding: 0.3 }, axis: { labelAngle: 0 } },
        color: { field: 'mode', type: 'nominal', scale: colorScale(labels), sort: labels, title: 'mode' },
      },
      layer: [
        { mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'latency (ms)' } } },
        { mark: { type: 'rule', strokeWidth: 1.5, opacity: 0.7 }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      ],
    },
    config: CONFIG,
  } as Spec;
}

/** Quantiles of sorted values at q = 1 - 10^-nines, nines in [0.3, max] (0.3 is the median). */
function tailPoints(sorted: Float64Array): Array<{ nines: number; ms: number }> {
  const out: Array<{ nines: number; ms: number }> = [];
  const n = sorted.length;
  if (n === 0) return out;
  const maxNines = Math.log10(n);
  for (let nines = Math.log10(2); nines <= maxNines + 1e-9; nines += 0.02) {
    const q = 1 - 10 ** -nines;
    out.push({ nines, ms: sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! });
  }
  out.push({ nines: maxNines, ms: sorted[n - 1]! });
  return out;
}

/** The tail's distribution at one load: latency against percentile on a "nines" axis, all trials pooled. */
export function tailCdfSpec(report: TailReport, latencies: Map<string, Float64Array>, rate: number): Spec {
  const labels = report.options.modes;
  const values: Array<{ mode: string; nines: number; ms: number }> = [];
  for (const label of labels) {
    const parts = [...latencies.entries()].filter(([key]) => key.startsWith(`${label}@${rate}#`)).map(([, v]) => v);
    const total = parts.reduce((a, p) => a + p.length, 0);
    const pooled = new Float64Array(total);
    let at = 0;
    for (const p of parts) {
      pooled.set(p, at);
      at += p.length;
    }
    pooled.sort();
    for (const p of tailPoints(pooled)) values.push({ mode: label, ...p });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Latency distribution at ${rate} queries/s`, subtitle: 'all trials pooled; x: percentile, y: latency (log)' },
    width: 560,
    height: 320,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
    encoding: {
      x: {
        field: 'nines',
        type: 'quantitative',
        title: 'percentile',
        scale: { domain: [Math.log10(2), Math.max(3, ...values.map((v) => v.nines))] },
        axis: { values: [Math.log10(2), 1, 2, 3, 4, 5], labelExpr: "datum.value < 0.5 ? 'p50' : datum.value < 1.5 ? 'p90' : datum.value < 2.5 ? 'p99' : datum.value < 3.5 ? 'p99.9' : datum.value < 4.5 ? 'p99.99' : 'p99.999'" },
      },
      y: { field: 'ms', type: 'quantitative', scale: { type: 'log', nice: false }, title: 'latency (ms)' },
      color: { field: 'mode', type: 'nominal', scale: colorScale(labels), sort: labels, title: 'mode' },
    },
    config: CONFIG,
  } as Spec;
}

/** The p99.9 - p50 gap against offered load, median across trials with min-max whiskers. */
export function gapVsLoadSpec(report: TailReport): Spec {
  const labels = report.options.modes;
  const values = report.summary.map((a) => ({ mode: a.label, rate: a.rate, gap: a.gap_ms.median, lo: a.gap_ms.min, hi: a.gap_ms.max }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Tail gap (p99.9 - p50) against offered load', subtitle: 'median across trials, whiskers min-max; log scale' },
    width: 560,
    height: 320,
    data: { values },
    encoding: {
      x: { field: 'rate', type: 'quantitative', title: 'offered load (queries/s)', axis: { values: report.options.rates } },
      color: { field: 'mode', type: 'nominal', scale: colorScale(labels), sort: labels, title: 'mode' },
    },
    layer: [
      { mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { y: { field: 'gap', type: 'quantitative', scale: { type: 'log' }, title: 'p99.9 - p50 (ms)' } } },
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
    config: CONFIG,
  } as Spec;
}

export async function renderSvg(spec: Spec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng();
}

/** Writes every chart as SVG and PNG into `dir`; returns the paths written. */
export async function writeCharts(report: TailReport, latencies: Map<string, Float64Array>, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const charts: Array<[string, Spec]> = [['percentiles', percentilesSpec(report)]];
  if (report.headline_rate !== null) charts.push(['tail-cdf', tailCdfSpec(report, latencies, report.headline_rate)]);
  if (report.options.rates.length > 1) charts.push(['gap-vs-load', gapVsLoadSpec(report)]);
  const written: string[] = [];
  for (const [name, spec] of charts) {
    const svg = await renderSvg(spec);
    const svgPath = join(dir, `${name}.svg`);
    const pngPath = join(dir, `${name}.png`);
    writeFileSync(svgPath, svg);
    writeFileSync(pngPath, svgToPng(svg));
    written.push(svgPath, pngPath);
  }
  return written;
}

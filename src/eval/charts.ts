// `parm eval`'s chart: per deployment, the accuracy a client sees against the fraction f of its
// predictions that are unavailable (late or lost), 0 to 50 %: ParM answers those with
// reconstructions, (1 - f) x deployed + f x degraded; the paper's baseline answers a default
// prediction (the training set's most frequent class), (1 - f) x deployed + f x majority; the
// deployed model alone, waiting for every prediction, stays at its accuracy. Drawn with the tail
// benchmark's renderer (Vega-Lite to SVG, resvg to PNG).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as vl from 'vega-lite';
import { renderSvg, svgToPng } from '../bench/tail/charts.js';
import type { EvalReport } from './evaluate.js';

const FRACTIONS = Array.from({ length: 11 }, (_, i) => i * 0.05);

/** The chart of one deployment; only within-budget parity models are drawn as ParM lines. */
export function overallSpec(report: EvalReport, deployment: string): vl.TopLevelSpec {
  const dep = report.deployments.find((d) => d.deployment === deployment);
  if (dep === undefined) throw new Error(`no deployment ${deployment} in the report`);
  const lines: Array<{ label: string; degraded: number }> = [
    { label: 'deployed model alone (waiting for all)', degraded: dep.deployed_accuracy },
    ...report.results.filter((r) => r.deployment === deployment && r.within_budget)
      .map((r) => ({ label: `parm k=${r.k} ${r.encoder}`, degraded: r.degraded_accuracy })),
    { label: 'default prediction (paper baseline)', degraded: dep.floor_majority_accuracy },
  ];
  const values = lines.flatMap((l) => FRACTIONS.map((f) => ({
    series: l.label, f: 100 * f, accuracy: 100 * ((1 - f) * dep.deployed_accuracy + f * l.degraded),
  })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `${deployment}: accuracy with predictions unavailable`,
      subtitle: `${report.dataset.name}, ${report.dataset.test_inputs} test inputs; unavailable predictions answered by ParM reconstructions or a default prediction`,
    },
    width: 560,
    height: 340,
    data: { values },
    mark: { type: 'line', point: true, strokeWidth: 2 },
    encoding: {
      x: { field: 'f', type: 'quantitative', title: 'predictions unavailable (%)', scale: { domain: [0, 50] } },
      y: { field: 'accuracy', type: 'quantitative', title: 'overall accuracy (%)', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', sort: lines.map((l) => l.label), title: null, scale: { scheme: 'tableau10' } },
    },
    config: { background: 'white', font: 'DejaVu Sans', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 },
      legend: { orient: 'right', labelLimit: 320 } },
  } as vl.TopLevelSpec;
}

/** Writes `<deployment>-overall.svg` and `.png` per deployment into `dir`; returns the paths. */
export async function writeEvalCharts(report: EvalReport, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const d of report.deployments) {
    const svg = await renderSvg(overallSpec(report, d.deployment));
    const svgPath = join(dir, `${d.deployment}-overall.svg`);
    const pngPath = join(dir, `${d.deployment}-overall.png`);
    writeFileSync(svgPath, svg);
    writeFileSync(pngPath, svgToPng(svg));
    written.push(svgPath, pngPath);
  }
  return written;
}

// `parm eval`: deployed and degraded-mode accuracy and the cost rule of the bundled (or given)
// models, measured through onnxruntime-node and the native codec (src/eval/evaluate.ts); with
// `--cost DEPLOYED PARITY`, only the cost of one parity model against its deployed model.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ParmError } from '../errors.js';
import { writeEvalCharts } from '../eval/charts.js';
import { parityCost } from '../eval/cost.js';
import { evaluate, formatTable } from '../eval/evaluate.js';

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ParmError('PARM_ERR_CLI_USAGE', `${flag} takes a positive integer, got '${v}'`);
    return n;
  };
}

interface EvalCliOptions {
  json?: boolean; models?: string; dataset?: string; deployment?: string[]; limit?: number; quiet?: boolean;
  out?: string; cost?: string[]; latencyRuns?: number;
}

export function register(program: Command): void {
  program.command('eval')
    .description('measure deployed and degraded-mode accuracy and each parity model\'s cost through the serving path (onnxruntime-node + native codec)')
    .option('--json', 'print one JSON object ({ results: [...] }) instead of the table')
    .option('--models <dir>', 'folder with manifest.json (default: the bundled models/)')
    .option('--dataset <dir>', 'dataset folder, IDX or .npy layout (default: /usr/share/datasets/fashion-mnist)')
    .option('--deployment <name...>', 'only these manifest deployments')
    .option('--limit <n>', 'only the first n test inputs', positiveInt('--limit'))
    .option('--out <dir>', 'also write eval.json and per deployment <name>-overall.svg/.png (accuracy against predictions unavailable) into this folder')
    .option('--latency-runs <n>', 'timed runs per model for parity_latency_ratio (default 1000)', positiveInt('--latency-runs'))
    .option('--cost <models...>', 'only the cost rule for DEPLOYED.onnx PARITY.onnx: multiply-adds, flops and latency ratios')
    .option('--quiet', 'no progress lines on stderr')
    .action(async (o: EvalCliOptions) => {
      const t0 = Date.now();
      if (o.cost !== undefined) {
        if (o.cost.length !== 2) throw new ParmError('PARM_ERR_CLI_USAGE', `--cost takes two models, DEPLOYED.onnx PARITY.onnx; got ${o.cost.length}`);
        const [deployed, parity] = o.cost.map((p) => resolve(p)) as [string, string];
        const c = await parityCost(deployed, parity, { runs: o.latencyRuns });
        const rec = { deployed, parity, ...c };
        if (o.json) process.stdout.write(JSON.stringify(rec, null, 2) + '\n');
        else {
          process.stdout.write(`multiply-adds: deployed ${c.deployed_macs}, parity ${c.parity_macs}; parity_flops_ratio ${c.parity_flops_ratio.toFixed(3)} ` +
            `(${c.within_budget ? 'within budget' : 'OVER BUDGET'}); parity_latency_ratio ${c.parity_latency_ratio.toFixed(3)} ` +
            `(${c.latency.parity_ms.toFixed(4)} / ${c.latency.deployed_ms.toFixed(4)} ms, median of ${c.latency.runs} runs each)\n`);
        }
        return;
      }
      const report = await evaluate({
        modelsDir: o.models, datasetDir: o.dataset, deployments: o.deployment, limit: o.limit, latencyRuns: o.latencyRuns,
        onProgress: o.quiet ? undefined : (m) => process.stderr.write(`parm eval: ${m}\n`),
      });
      const json = JSON.stringify(report, null, 2) + '\n';
      if (o.json) process.stdout.write(json);
      else process.stdout.write(formatTable(report));
      if (o.out !== undefined) {
        mkdirSync(o.out, { recursive: true });
        writeFileSync(join(o.out, 'eval.json'), json);
        const charts = await writeEvalCharts(report, o.out);
        if (!o.quiet) process.stderr.write(`parm eval: wrote ${join(o.out, 'eval.json')} and ${charts.length} chart files\n`);
      }
      if (!o.quiet) process.stderr.write(`parm eval: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}

// `parm eval`: deployed and degraded-mode accuracy of the bundled (or given) models, measured
// through onnxruntime-node and the native codec (src/eval/evaluate.ts).
import type { Command } from 'commander';
import { ParmError } from '../errors.js';
import { evaluate, formatTable } from '../eval/evaluate.js';

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ParmError('PARM_ERR_CLI_USAGE', `${flag} takes a positive integer, got '${v}'`);
    return n;
  };
}

export function register(program: Command): void {
  program.command('eval')
    .description('measure deployed and degraded-mode accuracy through the serving path (onnxruntime-node + native codec)')
    .option('--json', 'print one JSON object ({ results: [...] }) instead of the table')
    .option('--models <dir>', 'folder with manifest.json (default: the bundled models/)')
    .option('--dataset <dir>', 'dataset folder, IDX or .npy layout (default: /usr/share/datasets/fashion-mnist)')
    .option('--deployment <name...>', 'only these manifest deployments')
    .option('--limit <n>', 'only the first n test inputs', positiveInt('--limit'))
    .option('--quiet', 'no progress lines on stderr')
    .action(async (o: { json?: boolean; models?: string; dataset?: string; deployment?: string[]; limit?: number; quiet?: boolean }) => {
      const t0 = Date.now();
      const report = await evaluate({
        modelsDir: o.models, datasetDir: o.dataset, deployments: o.deployment, limit: o.limit,
        onProgress: o.quiet ? undefined : (m) => process.stderr.write(`parm eval: ${m}\n`),
      });
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(formatTable(report));
      if (!o.quiet) process.stderr.write(`parm eval: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    });
}

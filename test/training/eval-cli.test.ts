// `parm eval --json` on the bundled models: one JSON object, a record per deployment, k and
// encoder, every parity model in models/manifest.json present, better than its floors and within
// the cost rule, and the best within-budget figure per k.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { DEFAULT_DATASET_DIR } from '../../src/dataset.js';
import { bundledManifestPath, type Manifest } from '../../src/engine/manifest.js';

const manifestFile = bundledManifestPath();
const skip = !existsSync(DEFAULT_DATASET_DIR) ? `no dataset at ${DEFAULT_DATASET_DIR} (apt-get install dataset-fashion-mnist)` : false;

t.test('parm eval --json on the bundled models', { skip }, async (t) => {
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((c: string) => { out.push(String(c)); return true; }) as typeof process.stdout.write;
  try {
    await main(['eval', '--json', '--quiet', '--limit', '2000', '--latency-runs', '200']);
  } finally {
    process.stdout.write = write;
  }
  t.notOk(process.exitCode, 'exit status 0');
  const report = JSON.parse(out.join('')) as { results: Record<string, unknown>[]; best_within_budget: Record<string, unknown>[] };
  const expected = Object.entries(manifest.deployments).flatMap(([name, d]) => d.parity.map((p) => `${name} ${p.encoder} k=${p.k}`));
  t.same(report.results.map((r) => `${r['deployment']} ${r['encoder']} k=${r['k']}`).sort(), expected.sort(), 'a record per parity model');
  const dflt = manifest.deployments[manifest.default];
  t.ok(dflt?.parity.some((p) => p.k === 2 && p.encoder === (dflt.encoder ?? 'sum')), "the default deployment has a k = 2 parity model for its own encoder");
  for (const r of report.results) {
    t.match(r, { deployment: String, model: String, k: Number, encoder: String, deployed_accuracy: Number, degraded_accuracy: Number,
      floor_self_parity_accuracy: Number, floor_majority_accuracy: Number, test_groups: Number, overall_at_f: { '0.01': Number, '0.05': Number, '0.1': Number } });
    t.equal(r['test_groups'], Math.floor(2000 / (r['k'] as number)), 'groups of k consecutive test inputs');
    t.ok((r['degraded_accuracy'] as number) > (r['floor_self_parity_accuracy'] as number) + 0.1,
      `${r['deployment']} ${r['encoder']} k=${r['k']}: degraded ${r['degraded_accuracy']} well above the self-parity floor ${r['floor_self_parity_accuracy']}`);
    t.match(r, { parity_flops_ratio: Number, parity_latency_ratio: Number, within_budget: true, deployed_macs: Number, parity_macs: Number });
    t.ok((r['parity_flops_ratio'] as number) <= 1, `${r['deployment']} ${r['encoder']} k=${r['k']}: flops ratio ${r['parity_flops_ratio']} within the cost rule`);
  }
  const ks = [...new Set(report.results.map((r) => r['k'] as number))].sort((a, b) => a - b);
  t.same(report.best_within_budget.map((b) => b['k']), ks, 'a best within-budget record per k');
  for (const b of report.best_within_budget) {
    const rivals = report.results.filter((r) => r['k'] === b['k']);
    t.ok(rivals.some((r) => r['deployment'] === b['deployment'] && r['encoder'] === b['encoder']), 'it names a measured record');
  }
});

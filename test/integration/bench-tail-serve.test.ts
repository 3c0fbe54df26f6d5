// `parm bench tail` end to end against real `parm serve` processes and the bundled models: a
// configuration smaller than --quick, checking only that it ran and produced sane, non-empty
// results, the JSON contract, report.json and the charts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const manifest = join(root, 'models', 'manifest.json');
const servePlaceholder = readFileSync(join(root, 'src', 'cli', 'serve.ts'), 'utf8').includes('not available in this build yet');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, entry, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('parm bench tail --quick (smaller) against the real server', { skip: !existsSync(manifest) ? 'models/manifest.json not present (bundled models not built)' : servePlaceholder ? '`parm serve` not implemented in this checkout' : false }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'bench-tail-serve-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = await run(['bench', 'tail', '--quick', '--json', '--no-progress', '--modes', 'equal-resources,parm:2', '--rates', '60', '--duration', '2.5', '--warmup', '0.5', '--instances', '2', '--out', out]);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.slice(-2000)})`);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 1, '--json prints one line');
  const report = JSON.parse(lines[0]!) as { results: Array<Record<string, unknown>>; machine: { cores: number }; charts: string[] };
  t.equal(report.results.length, 2, 'a record per mode');
  for (const rec of report.results) {
    t.match(rec, { rate: 60, trial: 0, errors: 0, lost: 0 }, `${String(rec['label'])}: no errors`);
    t.ok((rec['queries'] as number) > 60, `${String(rec['label'])}: ${String(rec['queries'])} queries answered`);
    for (const key of ['p50_ms', 'p99_ms', 'p999_ms', 'gap_ms', 'max_ms', 'mean_ms']) {
      const v = rec[key] as number;
      t.ok(Number.isFinite(v) && v >= 0 && v < 10_000, `${String(rec['label'])}: ${key} ${v}`);
    }
    t.ok((rec['p50_ms'] as number) <= (rec['p999_ms'] as number));
    t.ok((rec['accuracy'] as number) > 0.6, `${String(rec['label'])}: accuracy ${String(rec['accuracy'])} (real labels, real model)`);
  }
  const parm = report.results.find((x) => x['mode'] === 'parm')!;
  t.same(parm['instances'], { deployed: 2, parity: 1 });
  t.same(report.results.find((x) => x['mode'] === 'equal-resources')!['instances'], { deployed: 3, parity: 0 }, 'equal-resources: the same total, all replicas');
  t.ok(existsSync(join(out, 'report.json')), 'report.json written');
  t.ok(report.charts.some((c) => c.endsWith('tail-cdf.png')) && report.charts.every((c) => existsSync(c)), 'charts written');
});

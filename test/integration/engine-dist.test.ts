// The compiled package (dist/, what `import 'parm'` loads) runs its .js worker entry, in threads
// and in child processes. Needs `npm run build` first (CI builds on `npm ci`); skipped otherwise.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { MLP, PARITY_A, direct, images, maxAbsDiff } from './engine-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const distWorker = `${root}dist/src/engine/instance-worker.js`;
const srcFiles = ['engine.ts', 'local-instance.ts', 'instance-worker.ts'].map((f) => `${root}src/engine/${f}`);
const fresh = existsSync(distWorker) && srcFiles.every((f) => statSync(f).mtimeMs <= statSync(distWorker).mtimeMs);

t.test('dist: createEngine from the compiled package', { skip: fresh ? false : 'dist/ missing or older than src/engine (run npm run build)' }, async (t) => {
  const [x1, x2] = images(2, 91) as [Float32Array, Float32Array];
  const dir = mkdtempSync(join(tmpdir(), 'parm-dist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const inputs = join(dir, 'inputs.f32');
  writeFileSync(inputs, Buffer.concat([Buffer.from(x1.buffer), Buffer.from(x2.buffer)]));
  const script = `
    import { readFileSync } from 'node:fs';
    const { createEngine, WORKER_URL } = await import(${JSON.stringify(`${root}dist/src/index.js`)});
    const b = readFileSync(${JSON.stringify(inputs)});
    const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    const x1 = all.slice(0, 784), x2 = all.slice(784);
    const out = { worker: WORKER_URL.href, runs: [] };
    for (const isolation of ['thread', 'process']) {
      const e = await createEngine({ name: 'mlp', deployedModel: ${JSON.stringify(MLP)}, parityModels: [{ path: ${JSON.stringify(PARITY_A)} }], isolation, groupWaitMs: 1000 });
      const rs = await Promise.all([e.infer(x1), e.infer(x2)]);
      out.runs.push({ isolation, results: rs.map((r) => ({ reconstructed: r.reconstructed, output: Array.from(r.output) })) });
      await e.close();
    }
    console.log(JSON.stringify(out));`;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } }, (err, so, se) =>
      err ? reject(new Error(`compiled engine failed: ${se.slice(-2000)}`)) : resolve(so),
    ),
  );
  const out = JSON.parse(stdout.trim().split('\n').pop()!) as {
    worker: string;
    runs: { isolation: string; results: { reconstructed: boolean; output: number[] }[] }[];
  };
  t.match(out.worker, /\/dist\/src\/engine\/instance-worker\.js$/, 'the compiled engine runs the compiled worker');
  const refs = [await direct(MLP, x1), await direct(MLP, x2)];
  t.equal(out.runs.length, 2);
  for (const run of out.runs) {
    run.results.forEach((r, i) => {
      if (!r.reconstructed) t.equal(maxAbsDiff(Float32Array.from(r.output), refs[i]!), 0, `${run.isolation}: query ${i} original`);
      else t.pass(`${run.isolation}: query ${i} reconstructed`);
    });
  }
});

// `parm serve` as a process: --help, usage errors, a --config deployment on port 0 with --fault,
// readiness, and graceful SIGTERM (the request in flight is answered, exit code 0).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { inferHttp } from '../../src/client/index.js';
import { KServeClient } from './grpc-helpers.js';
import { direct, images, servedDeployment } from './server-helpers.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const node = (args: string[]) => [...process.execArgv, ENTRY, ...args];

t.test('--help documents every flag', async (t) => {
  const r = spawnSync(process.execPath, node(['serve', '--help']), { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0);
  for (const flag of [
    '--host',
    '--port',
    '--grpc-port',
    '--no-grpc',
    '--grpc-tls-cert',
    '--grpc-tls-key',
    '--config',
    '--fault',
    '--model',
    '--mode',
    '--k',
    '--encoder',
    '--instances',
    '--parity-instances',
    '--isolation',
    '--threads',
    '--decode',
    '--max-pending',
    '--max-body-bytes',
    '--max-message-bytes',
    '--max-batch',
    '--max-in-flight',
    '--idle-timeout',
    '--dashboard-controls',
    '--log-level',
  ]) {
    t.match(r.stdout, flag, flag);
  }
  t.match(r.stdout, /delay:<instance>:<ms>\[:<probability>\]/);
});

t.test('usage errors are one line and exit 1', async (t) => {
  const r = spawnSync(process.execPath, node(['serve', '--fault', 'delay:deployed-0:abc', '--port', '0']), { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 1);
  t.match(r.stderr, /^parm: --fault delay:deployed-0:abc: ms must be a number >= 0, got 'abc'\n$/);
  const dir = mkdtempSync(join(tmpdir(), 'parm-serve-'));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ deployments: [{ name: 'x' }] }));
  const c = spawnSync(process.execPath, node(['serve', '--config', join(dir, 'bad.json')]), { encoding: 'utf8', timeout: 60_000 });
  t.equal(c.status, 1);
  t.match(c.stderr, /deployments\[0\]\.deployedModel must be a path to an ONNX file/);
});

t.test('serves a --config deployment on port 0 with a fault, then shuts down gracefully on SIGTERM', async (t) => {
  const d = servedDeployment();
  const dir = mkdtempSync(join(tmpdir(), 'parm-serve-'));
  // Model paths relative to the config file (Contract 4).
  const config = {
    deployments: [
      {
        name: 'cli-model',
        deployedModel: relative(dir, d.deployedModel!),
        parityModels: d.parityModels!.map((p) => ({ path: relative(dir, p.path!) })),
        k: 2,
        instances: 2,
      },
    ],
  };
  writeFileSync(join(dir, 'serve.json'), JSON.stringify(config));
  const child = spawn(process.execPath, node(['serve', '--config', join(dir, 'serve.json'), '--port', '0', '--grpc-port', '0', '--fault', 'delay:deployed-0:300', '--log-level', 'warn']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b) => (err += b));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (b) => {
      out += b;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`exited early: ${err}`)));
  });
  t.ok(port > 0, `printed port ${port}`);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && (await fetch(`${base}/v2/health/ready`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal((await fetch(`${base}/v2/health/ready`)).status, 200, 'ready once every instance loaded');
  const grpcLine = /parm: listening on grpc:\/\/127\.0\.0\.1:(\d+)\n/.exec(out);
  t.ok(grpcLine && Number(grpcLine[1]) > 0 && Number(grpcLine[1]) !== port, '--grpc-port 0 picks a free port and prints it');
  const grpcClient = new KServeClient(`127.0.0.1:${grpcLine?.[1]}`);
  t.same(await grpcClient.call('ServerLive', {}), { live: true }, 'gRPC answers on the printed port');
  grpcClient.close();
  t.match(out, new RegExp(`cli-model \\(mode parm, k=2, sum\\): POST ${base}/v2/models/cli-model/infer   WebSocket ws://127\\.0\\.0\\.1:${port}/v2/models/cli-model/infer/stream`), 'prints where to connect');

  // --fault delay:deployed-0:300 makes some answers reconstructions under the `first` policy.
  const y = images(8, 22);
  let reconstructed = 0;
  for (let round = 0; round < 5 && reconstructed === 0; round++) {
    const firsts = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => inferHttp(base, 'cli-model', y.subarray(i * 784, (i + 1) * 784), { decode: { kind: 'first' } })));
    reconstructed = firsts.filter((a) => a.reconstructed).length;
  }
  t.ok(reconstructed > 0, `${reconstructed} of 8 reconstructed under --fault`);

  const x = images(4, 21);
  const want = await direct(d.deployedModel!, x);
  // deployed-0 is delayed 300 ms: wait for originals, then SIGTERM while they are in flight.
  const inflight = [0, 1, 2, 3].map((i) =>
    inferHttp(base, 'cli-model', x.subarray(i * 784, (i + 1) * 784), { decode: { kind: 'deadline', waitMs: 5000 } }),
  );
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  const answers = await Promise.all(inflight);
  answers.forEach((a, i) => t.same(Array.from(a.output), Array.from(want.subarray(i * 10, i * 10 + 10)), `in-flight request ${i} answered`));
  t.equal(await exited, 0, 'exit code 0 after SIGTERM');
  t.notMatch(err, /"level":50/, 'no error logged');
});

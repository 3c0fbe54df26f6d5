// `parm serve` as a process, for what an operator relies on (issue 13): a taken port is an error
// with the port in it and a non-zero exit, not a second server sharing the port; engine flags;
// the access-control, CORS and access-log flags.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { main } from '../../src/cli/main.js';
import { inferHttp } from '../../src/client/index.js';
import { startServer } from '../../src/server/app.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { freePort, node, serving } from './serve-process.js';

/** Runs `parm` to its exit (or until it prints `parm: ready`, then stops it): the exit code, stdout and stderr. */
function run(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, node(args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => {
      stdout += b;
      if (stdout.includes('parm: ready')) child.kill('SIGKILL');
    });
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Runs the CLI in this process, for usage errors that stop it before anything is served (spawning
 * a TypeScript process per case costs many seconds): what it wrote and its exit code.
 */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((c: string | Uint8Array) => ((out.stdout += String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((out.stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    await main(args);
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, ...out };
}

t.test('parm serve on a port another parm server holds exits 1 naming the port', async (t) => {
  const port = await freePort();
  const first = await startServer({ engines: [new FakeEngine()], port });
  t.teardown(() => first.close());
  const r = await run(['serve', '--port', String(port), '--no-grpc', '--log-level', 'silent']);
  t.notMatch(r.stdout, /parm: ready/, 'never ready (it used to start and share the port)');
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, new RegExp(`^parm: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`, 'm'));
});

t.test('a gRPC port that is taken is refused before any model loads', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.teardown(() => holder.close());
  const taken = (holder.address() as net.AddressInfo).port;
  const r = await inProcess(['serve', '--port', '0', '--grpc-port', String(taken), '--log-level', 'silent']);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^parm: cannot listen on 127\\.0\\.0\\.1:${taken}: the port is in use`, 'm'));
  t.notMatch(r.stdout, /listening/, 'nothing started');
});

t.test('a misspelt option in the serve config is an error naming the file, the key and the closest known one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-serve-keys-'));
  const file = join(dir, 'serve.json');
  writeFileSync(file, JSON.stringify({ port: 0, deployments: [{ bundled: 'fashion-mnist-mlp', hangTimeoutMS: 500 }] }));
  const r = await run(['serve', '--config', file, '--no-grpc', '--log-level', 'silent']);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, `parm: --config ${file}: deployments[0].hangTimeoutMS: unknown option (did you mean 'hangTimeoutMs'?)`);
  t.notMatch(r.stdout, /listening/, 'nothing started');
});

t.test('engine options without a config file: --batch, --hang-timeout, --group-wait, --partial-group, --max-retries, --parity-rows', async (t) => {
  const help = await inProcess(['serve', '--help']);
  t.equal(help.code, 0);
  for (const flag of ['--batch <maxBatch>[:<maxDelayMs>]', '--hang-timeout <ms>', '--group-wait <ms>', '--parity-defer <ms>', '--partial-group <policy>', '--max-retries <n>', '--parity-rows <n>']) {
    t.match(help.stdout, flag, `--help lists ${flag}`);
  }

  // Served with the flags: the deployment's options, as logged at start, carry them.
  const child = spawn(
    process.execPath,
    node(['serve', '--port', '0', '--no-grpc', '--instances', '1', '--batch', '4:2', '--hang-timeout', '750', '--group-wait', '3', '--parity-defer', '0', '--partial-group', 'unprotected', '--max-retries', '1', '--parity-rows', '1', '--log-level', 'info']),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let err = '';
  const logged = await new Promise<Record<string, any>>((resolve, reject) => {
    child.stderr.on('data', (b) => {
      err += b;
      for (const line of err.split('\n')) {
        if (line.includes('"msg":"deployment"')) resolve(JSON.parse(line) as Record<string, any>);
      }
    });
    child.once('exit', () => reject(new Error(`exited: ${err}`)));
  });
  child.kill('SIGTERM');
  t.equal(await exited, 0);
  t.match(logged.options, { batching: { maxBatch: 4, maxDelayMs: 2 }, hangTimeoutMs: 750, groupWaitMs: 3, parityDeferMs: 0, partialGroup: 'unprotected', maxRetries: 1 });
  t.equal(logged.options.parityModels.length, 1, '--parity-rows 1: one parity model');

  const usage: Array<[string[], RegExp]> = [
    [['--batch', '0'], /^parm: --batch must be <maxBatch>\[:<maxDelayMs>\] with maxBatch an integer >= 1 and maxDelayMs a number >= 0, got '0'$/m],
    [['--batch', '4:soon'], /^parm: --batch must be <maxBatch>\[:<maxDelayMs>\]/m],
    [['--hang-timeout', '5'], /^parm: --hang-timeout 5: hangTimeoutMs: expected a number in \[10, 2147483647\] \(got 5\)$/m],
    [['--group-wait', '3000000000'], /^parm: --group-wait 3000000000: groupWaitMs: expected a number in \[0, 2147483647\]/m],
    [['--parity-defer', 'soon'], /^parm: --parity-defer must be a number of milliseconds >= 0, got 'soon'$/m],
    [['--max-retries', '101'], /^parm: --max-retries 101: maxRetries: expected an integer in \[0, 100\] \(got 101\)$/m],
    [['--parity-rows', '2'], /^parm: --parity-rows 2: models\/manifest\.json lists 1 parity model for fashion-mnist-mlp with k=2, encoder concat$/m],
    [['--partial-group', 'drop'], /--partial-group/],
  ];
  for (const [args, message] of usage) {
    const r = await inProcess(['serve', '--port', '0', '--no-grpc', '--log-level', 'silent', ...args]);
    t.not(r.code, 0, `${args.join(' ')}: refused`);
    t.match(r.stderr, message, args.join(' '));
  }
});

t.test('--auth-token-file, --cors and --access-log on parm serve', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-serve-auth-'));
  const token = 'file-token-7Qx';
  writeFileSync(join(dir, 'token'), `${token}\n`);
  const s = await serving(['--auth-token-file', join(dir, 'token'), '--cors', 'http://page.example', '--log-level', 'info']);
  t.match(s.out(), /access: Authorization: Bearer <token> required/);
  t.equal((await fetch(`${s.base}/v2/health/ready`)).status, 200, 'health without a token');
  t.equal((await fetch(`${s.base}/v2`)).status, 401, 'the rest needs it');
  t.equal((await fetch(`${s.base}/v2`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
  const pre = await fetch(`${s.base}/v2/models/fashion-mnist-mlp/infer`, { method: 'OPTIONS', headers: { Origin: 'http://page.example', 'Access-Control-Request-Method': 'POST' } });
  t.equal(pre.status, 204);
  t.equal(pre.headers.get('access-control-allow-origin'), 'http://page.example');
  const r = await s.stop();
  t.equal(r.code, 0);
  t.notMatch(r.out + r.err, token, 'the token is printed and logged nowhere');

  const e = await serving(['--log-level', 'warn', '--access-log'], { ...process.env, PARM_AUTH_TOKEN: 'env-token-2b' });
  t.equal((await fetch(`${e.base}/v2`)).status, 401, 'PARM_AUTH_TOKEN');
  t.equal((await fetch(`${e.base}/v2`, { headers: { Authorization: 'Bearer env-token-2b' } })).status, 200);
  await inferHttp(e.base, 'fashion-mnist-mlp', new Float32Array(784).fill(0.5), { id: 'cli-1', token: 'env-token-2b' });
  const stopped = await e.stop();
  t.equal(stopped.code, 0);
  const access = stopped.err.split('\n').filter((l) => l.includes('"msg":"request"'));
  t.equal(access.length, 1, '--access-log: one line for the one inference, at --log-level warn');
  t.match(JSON.parse(access[0]!), { id: 'cli-1', model: 'fashion-mnist-mlp', transport: 'http', status: 200, outcome: 'success', reconstructed: false });
  t.notMatch(stopped.err, 'env-token-2b', 'nor is the token from the environment logged');

  const bad = await inProcess(['serve', '--port', '0', '--cors', 'page.example']);
  t.match(bad.stderr, /^parm: --cors 'page\.example': expected '\*' or an origin/m);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  t.match((await inProcess(['serve', '--port', '0', '--auth-token-file', empty])).stderr, /^parm: --auth-token-file .*empty: the file is empty$/m);
});

// `parm serve` as a process, for what an operator relies on (issue 13): a taken port is an error
// with the port in it and a non-zero exit, not a second server sharing the port.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startServer } from '../../src/server/app.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const node = (args: string[]) => [...process.execArgv, ENTRY, ...args];

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

/** A port free a moment ago (the kernel's pick for port 0). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('parm serve on a port another parm server holds exits 1 naming the port', async (t) => {
  const port = await freePort();
  const first = await startServer({ engines: [new FakeEngine()], port });
  t.teardown(() => first.close());
  const r = await run(['serve', '--port', String(port), '--log-level', 'silent']);
  t.notMatch(r.stdout, /parm: ready/, 'never ready (it used to start and share the port)');
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, new RegExp(`^parm: cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`, 'm'));
});

t.test('a misspelt option in the serve config is an error naming the file, the key and the closest known one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-serve-keys-'));
  const file = join(dir, 'serve.json');
  writeFileSync(file, JSON.stringify({ port: 0, deployments: [{ bundled: 'fashion-mnist-mlp', hangTimeoutMS: 500 }] }));
  const r = await run(['serve', '--config', file, '--log-level', 'silent']);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.stderr, `parm: --config ${file}: deployments[0].hangTimeoutMS: unknown option (did you mean 'hangTimeoutMs'?)`);
  t.notMatch(r.stdout, /listening/, 'nothing started');
});

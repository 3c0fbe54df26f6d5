// `parm worker` as a process (one model over OIP HTTP, no coding) and a frontend whose deployed and
// parity instances are such workers: answers equal a direct onnxruntime run, a killed worker is
// marked down and rejoins when restarted, and every query is answered once.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { inferHttp } from '../../src/client/index.js';
import { createEngine } from '../../src/engine/engine.js';
import { workerModelName } from '../../src/cli/worker.js';
import { direct, images, servedDeployment } from './server-helpers.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));

interface Worker {
  child: ChildProcess;
  port: number;
  stdout: string[];
}

/** Starts `parm worker` and resolves when it printed `parm: ready`. */
function startWorker(args: string[]): Promise<Worker> {
  const child = spawn(process.execPath, [...process.execArgv, ENTRY, 'worker', ...args, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
    process.stderr.write(c);
  });
  return new Promise((resolve, reject) => {
    let port = 0;
    let rest = '';
    child.stdout!.on('data', (c: Buffer) => {
      const lines = (rest + c.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        stdout.push(line);
        const m = /^parm: listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        if (m) port = Number(m[1]);
        if (line === 'parm: ready') resolve({ child, port, stdout });
      }
    });
    child.once('exit', (code) => reject(new Error(`parm worker exited with ${code} before it was ready: ${stdout.join(' | ')} ${stderr.slice(-2000)}`)));
  });
}

/** A port free now: Node binds port 0 and lets it go. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function stop(w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    w.child.once('exit', () => r());
    w.child.kill('SIGKILL');
  });
}

const d = servedDeployment();
const deployedFile = d.deployedModel!;
const parityFile = d.parityModels![0]!.path!;

t.test('the model name is the file name without .onnx', async (t) => {
  t.equal(workerModelName('/a/b/parity-sum-k2.onnx'), 'parity-sum-k2');
  t.equal(workerModelName('deployed.ONNX'), 'deployed');
});

t.test('a frontend on three parm workers: answers, a killed worker, its return', async (t) => {
  const [w0, w1, wp] = await Promise.all([
    startWorker(['--model', deployedFile, '--port', '0']),
    // An explicit port, as an operator gives: a port the kernel picked (0) is bound without
    // SO_REUSEADDR, so the connections the killed worker leaves in TIME_WAIT would keep a
    // restart off it for a minute.
    freePort().then((p) => startWorker(['--model', deployedFile, '--port', String(p), '--name', 'deployed'])),
    startWorker(['--model', parityFile, '--port', '0', '--name', 'parity']),
  ]);
  t.teardown(() => Promise.all([stop(w0), stop(w1), stop(wp)]));
  t.match(w0.stdout[0], /^parm: listening on http:\/\/127\.0\.0\.1:\d+$/, 'prints where it listens, like parm serve');
  const x = images(8, 5);
  const one = (i: number) => x.subarray(i * 784, (i + 1) * 784);
  const want = await direct(deployedFile, x);
  const wanted = (i: number) => Array.from(want.subarray(i * 10, (i + 1) * 10));

  // The worker on its own: plain OIP HTTP, binary extension.
  const a = await inferHttp(`http://127.0.0.1:${w0.port}`, 'deployed', one(0));
  t.same(Array.from(a.output), wanted(0), 'a worker answers like a direct onnxruntime run');

  const url = (w: Worker, m: string) => `http://127.0.0.1:${w.port}/v2/models/${m}`;
  const engine = await createEngine({
    name: 'fleet',
    deployedBackends: [url(w0, 'deployed'), url(w1, 'deployed')],
    parityModels: [{ backends: [url(wp, 'parity')] }],
    k: 2,
  });
  t.teardown(() => engine.close());
  const rs = await Promise.all([0, 1, 2, 3].map((i) => engine.infer(one(i))));
  rs.forEach((r, i) => {
    if (!r.reconstructed) t.same(Array.from(r.output), wanted(i), `query ${i}: the original, through the frontend`);
  });

  await stop(w1);
  const during = await Promise.all([4, 5, 6, 7].map((i) => engine.infer(one(i))));
  t.equal(during.length, 4, 'every query answered while a worker is dead');
  const down = engine.metrics().instances.find((i) => i.id === 'deployed-1')!;
  t.not(down.circuit, 'closed', 'the killed worker is marked down');
  t.equal(down.backend, url(w1, 'deployed'));

  const back = await startWorker(['--model', deployedFile, '--port', String(w1.port), '--name', 'deployed']);
  t.teardown(() => stop(back));
  for (let i = 0; i < 400 && engine.metrics().instances.find((i) => i.id === 'deployed-1')!.circuit !== 'closed'; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(engine.metrics().instances.find((i) => i.id === 'deployed-1')!.circuit, 'closed', 'the restarted worker rejoined by itself');
  const m = engine.metrics();
  t.equal(m.answered + m.errors, m.queries, 'every accepted query settled');
  t.equal(m.errors, 0);
});

// A parm server's Node flags (src/server/node-flags.ts): the `parm` command and `npm start` carry
// exactly them, the benchmarks' spawn helper adds them without doubling, and the engine's instance
// threads run without V8's memory reducer however the process was started (src/engine/thread-heap.ts):
// a thread whose old generation grew by a few MiB before its first full collection, then went
// quiet, is shrunk by a "Mark-Compact (reduce)" some 8 s later unless the flag was set before the
// thread started.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { SERVER_NODE_FLAGS, withServerNodeFlags } from '../../src/server/node-flags.js';

const root = new URL('../../', import.meta.url);

t.test('the parm command and npm start carry the server flags', async (t) => {
  const shebang = readFileSync(new URL('bin/parm.js', root), 'utf8').split('\n')[0]!;
  t.same(shebang.replace(/^#!\/usr\/bin\/env -S node ?/, '').split(' ').filter(Boolean), [...SERVER_NODE_FLAGS], 'bin/parm.js runs node with them');
  const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
  for (const f of SERVER_NODE_FLAGS) t.ok(start.split(' ').includes(f), `npm start has ${f}`);
});

t.test('withServerNodeFlags adds what is missing, once', async (t) => {
  t.same(withServerNodeFlags([]), [...SERVER_NODE_FLAGS]);
  t.same(withServerNodeFlags(['--import', 'x']), [...SERVER_NODE_FLAGS, '--import', 'x'], "the caller's flags (a loader) stay after");
  t.same(withServerNodeFlags([...SERVER_NODE_FLAGS]), [...SERVER_NODE_FLAGS], 'not doubled');
});

/**
 * A child process whose one worker thread keeps a few MiB of small objects (promoted by young
 * collections, no full collection yet: what arms the reducer on a small heap), then sits idle for
 * 10.5 s; resolves with the full collections the worker saw meanwhile (its own `gc` performance
 * entries), or null if it did not report.
 */
function idleWorkerMajors(quiet: boolean): Promise<number | null> {
  const threadHeap = new URL('../../src/engine/thread-heap.ts', import.meta.url).href;
  const worker = `
    const { parentPort } = require('node:worker_threads');
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    globalThis.keep = [];
    for (let i = 0; i < 60000; i++) globalThis.keep.push({ a: i, b: [i] });
    let majors = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
    }).observe({ entryTypes: ['gc'] });
    setTimeout(() => parentPort.postMessage(majors), 10500);`;
  const program = `
    const { Worker } = await import('node:worker_threads');
    if (${quiet}) (await import(${JSON.stringify(threadHeap)})).quietThreadHeaps();
    new Worker(${JSON.stringify(worker)}, { eval: true, execArgv: [] }).on('message', (m) => console.log('majors ' + m));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      const m = /majors (\d+)/.exec(out);
      resolve(m ? Number(m[1]) : null);
    });
  });
}

t.test('instance threads have no memory reducer', async (t) => {
  const [plain, quiet] = await Promise.all([idleWorkerMajors(false), idleWorkerMajors(true)]);
  t.not(quiet, null, 'the quiet worker reported');
  // The control: should a later V8 stop reducing this worker, the check below would test nothing,
  // so this fails and the worker's growth needs another trigger.
  t.ok(plain !== null && plain > 0, `a plain worker thread: ${plain} full collection(s) while idle, the reducer's`);
  t.equal(quiet, 0, 'after quietThreadHeaps(): none');
});

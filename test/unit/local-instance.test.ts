// What a local instance passes to its worker: the parent's loaders, not its entry-only flags.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { instanceExecArgv, loaderFlags, newThread } from '../../src/engine/local-instance.js';

t.test('instanceExecArgv keeps loaders, drops entry-only flags', async (t) => {
  t.same(
    instanceExecArgv(['--import=file:///x/loader.mjs', '--input-type=module', '-e', 'code', '--eval=more', '--enable-source-maps', '--inspect=9229', '--require', 'r.cjs', '--watch']),
    ['--import=file:///x/loader.mjs', '--enable-source-maps', '--require', 'r.cjs'],
  );
});

t.test('loaderFlags keeps only what loads code', async (t) => {
  t.same(loaderFlags(['--trace-gc', '--import', 'file:///x/l.mjs', '--max-old-space-size=64', '-r', 'r.cjs', '--conditions=dev', '--no-warnings', '--stack-size=900']), [
    '--import',
    'file:///x/l.mjs',
    '-r',
    'r.cjs',
    '--conditions=dev',
    '--no-warnings',
  ]);
});

t.test('newThread starts a thread under a process-wide flag that workers refuse', async (t) => {
  const saved = [...process.execArgv];
  process.execArgv.push('--trace-gc');
  t.teardown(() => {
    process.execArgv.length = 0;
    process.execArgv.push(...saved);
  });
  t.throws(() => new Worker('0', { eval: true, execArgv: ['--trace-gc'] }), { code: 'ERR_WORKER_INVALID_EXEC_ARGV' }, 'a plain Worker refuses the flag');
  const url = new URL(`data:text/javascript,${encodeURIComponent("import { parentPort } from 'node:worker_threads'; parentPort.postMessage('up');")}`);
  const w = newThread(url);
  t.equal(await new Promise((r) => w.once('message', r)), 'up');
  await w.terminate();
});

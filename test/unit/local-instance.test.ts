// What a local instance passes to its worker: the parent's loaders, not its entry-only flags.
import t from 'tap';
import { instanceExecArgv } from '../../src/engine/local-instance.js';

t.test('instanceExecArgv keeps loaders, drops entry-only flags', async (t) => {
  t.same(
    instanceExecArgv(['--import=file:///x/loader.mjs', '--input-type=module', '-e', 'code', '--eval=more', '--enable-source-maps', '--inspect=9229', '--require', 'r.cjs', '--watch']),
    ['--import=file:///x/loader.mjs', '--enable-source-maps', '--require', 'r.cjs'],
  );
});

// The uWebSockets.js loader (src/server/uws.ts): the native binary for this platform and Node
// ABI is what loads, never the package's pure-JS fallback. Loads the module; opens no socket.
import { createRequire } from 'node:module';
import t from 'tap';
import { loadUws, uwsBinaryPath } from '../../src/server/uws.js';

t.test('the native uWebSockets.js binary is what loads, never the JS fallback', async (t) => {
  const path = uwsBinaryPath();
  t.match(path, new RegExp(`binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}\\.node$`));
  const require = createRequire(import.meta.url);
  t.equal(loadUws().App, (require(path) as { App: unknown }).App, 'the same native App function');
});

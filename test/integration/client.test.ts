// The Node client (src/client) against a real server over the fake engine: a refused connection
// says why (the upgrade's status and the server's error), and a request made while the client
// reconnects keeps a plain script alive until it is answered.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ParmClient, ParmConnectionError } from '../../src/client/index.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';

let server: ParmServer;
t.before(async () => {
  server = await startServer({ engines: [new FakeEngine()], port: 0 });
});
t.teardown(() => server.close());

t.test("connecting to an unknown model rejects with the server's status and reason", async (t) => {
  const err = await ParmClient.connect({ url: server.url, model: 'nope', reconnect: false }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ParmConnectionError);
  t.match(err, { status: 404, message: /^cannot connect to ws:\/\/127\.0\.0\.1:\d+\/v2\/models\/nope\/infer\/stream: 404 unknown model 'nope'$/ });
  const v = await ParmClient.connect({ url: server.url, model: 'fake', version: '9', reconnect: false }).catch((e: unknown) => e);
  t.match(v, { status: 404, message: /404 unknown version '9' of model 'fake'/ });
});

t.test('infer() while the client reconnects keeps a plain script alive until it is answered', async (t) => {
  const script = fileURLToPath(new URL('../helpers/client-reconnect-child.ts', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.equal(code, 0, `exit code 0, not 13 (an unsettled promise); stderr: ${err.slice(0, 300)}`);
  const line = JSON.parse(out.trim() || '{}') as { logit?: number; reconnects?: number; error?: string };
  t.equal(line.error, undefined, 'no error');
  t.equal(line.logit, fakeLogits(new Float32Array(784).fill(0.5))[0], 'the answer');
  t.equal(line.reconnects, 1, 'over the new connection');
});

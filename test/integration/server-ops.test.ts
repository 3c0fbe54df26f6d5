// What an operator relies on (issue 13): a port that is taken is an error at once, not a second
// listener sharing it. Real servers on port 0 over the fake engine.
import net from 'node:net';
import t from 'tap';
import { ParmError } from '../../src/errors.js';
import { startServer } from '../../src/server/app.js';
import { FakeEngine } from '../helpers/fake-engine.js';

/** A port free a moment ago (the kernel's pick for port 0). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

t.test('a port that is taken is refused at once, naming it', async (t) => {
  // A fixed port, as `parm serve --port N` uses (uWS binds those with SO_REUSEPORT).
  const first = await startServer({ engines: [new FakeEngine()], port: await freePort() });
  t.teardown(() => first.close());
  const second = await startServer({ engines: [new FakeEngine()], port: first.port }).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  t.ok(second instanceof ParmError, 'a second server on the same port does not start');
  t.match(second, { code: 'PARM_ERR_SERVER_CONFIG', message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: the port is in use`) });
  t.equal((await fetch(`${first.url}/v2/health/live`)).status, 200, 'the first keeps serving');

  // Taken by another program (a plain Node listener): the same.
  const other = net.createServer();
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => other.close(() => r())));
  const port = (other.address() as net.AddressInfo).port;
  await t.rejects(startServer({ engines: [new FakeEngine()], port }), { code: 'PARM_ERR_SERVER_CONFIG', message: new RegExp(`:${port}: the port is in use`) });

  // Port 0 still picks a free port each time.
  const a = await startServer({ engines: [new FakeEngine()], port: 0 });
  const b = await startServer({ engines: [new FakeEngine()], port: 0 });
  t.not(a.port, b.port);
  await Promise.all([a.close(), b.close()]);
});

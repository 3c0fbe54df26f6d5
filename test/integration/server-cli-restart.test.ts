// `parm serve --port N` restarted at once on N after a kill -9 (its own file: two server starts).
// A port uWebSockets.js picks (port 0) is bound without SO_REUSEADDR, an explicit one with it: the
// exclusive bind parm uses must keep that, or a restart waits out TIME_WAIT.
import net from 'node:net';
import t from 'tap';
import { freePort, serving } from './serve-process.js';

t.test('parm serve --port N starts again at once on N after a kill -9 that left connections open', async (t) => {
  const port = await freePort();
  const first = await serving(['--mode', 'none', '--instances', '1', '--log-level', 'warn'], process.env, port);
  // Open connections of every kind: a kept-alive HTTP one after an answer, a WebSocket stream,
  // a request whose body is half sent, and one idle socket.
  const sockets: net.Socket[] = [];
  const open = (data: string) =>
    new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(data);
        setTimeout(resolve, 100);
      });
      s.on('error', () => undefined);
      sockets.push(s);
    });
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  await open('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
  await open('GET /v2/models/fashion-mnist-mlp/infer/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await open('POST /v2/models/fashion-mnist-mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"inputs":');
  await open('');
  await first.kill();
  // The killed server's side of those connections now lingers (FIN_WAIT / TIME_WAIT) on port N.
  const again = await serving(['--mode', 'none', '--instances', '1', '--log-level', 'warn'], process.env, port);
  t.equal(again.base, `http://127.0.0.1:${port}`, 'ready on the same port at once');
  t.equal((await fetch(`${again.base}/v2/health/ready`)).status, 200);
  t.equal((await again.stop()).code, 0);
});

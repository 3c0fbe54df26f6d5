// A plain script, run as a child process by test/integration/client.test.ts: it connects a
// ParmClient to the server (argv[2]) through a TCP proxy of its own, cuts the connection, and calls
// infer while the client waits to reconnect. Nothing else keeps the process alive (the proxy is
// unref'd), so the pending request must. Prints the answer's first logit, or the error.
import net from 'node:net';
import { ParmClient } from '../../src/client/index.js';

const target = new URL(process.argv[2]!);
const conns = new Set<net.Socket>();
const proxy = net.createServer((down) => {
  const up = net.connect(Number(target.port), target.hostname);
  conns.add(down).add(up);
  down.pipe(up).pipe(down);
  const kill = () => {
    down.destroy();
    up.destroy();
  };
  down.on('error', kill).on('close', kill);
  up.on('error', kill).on('close', kill);
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
proxy.unref();
const port = (proxy.address() as net.AddressInfo).port;

const client = await ParmClient.connect({ url: `http://127.0.0.1:${port}`, model: 'fake', reconnectMinDelayMs: 300 });
for (const s of conns) s.destroy();
// Let the client see the close and start its reconnect delay.
await new Promise((r) => setTimeout(r, 50));
try {
  const a = await client.infer(new Float32Array(784).fill(0.5));
  process.stdout.write(`${JSON.stringify({ logit: a.output[0], reconnects: client.reconnects })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
}
await client.close();

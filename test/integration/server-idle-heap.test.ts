// The server holds V8's memory reducer off while it runs (src/server/idle-heap.ts): held from
// listening to close, counted across servers, released once, and left alone with idleHeapShrink.
import t from 'tap';
import { startServer } from '../../src/server/app.js';
import { holdIdleHeap, idleHeapHolders } from '../../src/server/idle-heap.js';
import { FakeEngine } from '../helpers/fake-engine.js';

t.test('a running server holds the reducer off; two count; close releases', async (t) => {
  t.equal(idleHeapHolders(), 0);
  const a = await startServer({ engines: [new FakeEngine()], port: 0 });
  t.equal(idleHeapHolders(), 1, 'held while the first server runs');
  const b = await startServer({ engines: [new FakeEngine()], port: 0 });
  t.equal(idleHeapHolders(), 2, 'each server holds its own');
  await a.close();
  t.equal(idleHeapHolders(), 1, 'still held by the second');
  await a.close();
  t.equal(idleHeapHolders(), 1, 'a second close releases nothing more');
  await b.close();
  t.equal(idleHeapHolders(), 0, 'back to V8 default after the last close');
});

t.test('idleHeapShrink: true leaves V8 default', async (t) => {
  const s = await startServer({ engines: [new FakeEngine()], port: 0, idleHeapShrink: true });
  t.equal(idleHeapHolders(), 0);
  await s.close();
  t.equal(idleHeapHolders(), 0);
});

t.test('a failed listen holds nothing', async (t) => {
  const a = await startServer({ engines: [new FakeEngine()], port: 0 });
  await t.rejects(startServer({ engines: [new FakeEngine()], port: a.port }), { code: 'PARM_ERR_SERVER_CONFIG' });
  t.equal(idleHeapHolders(), 1, 'only the server that listens');
  await a.close();
  t.equal(idleHeapHolders(), 0);
});

t.test('a release is idempotent', async (t) => {
  const release = holdIdleHeap();
  t.equal(idleHeapHolders(), 1);
  release();
  release();
  t.equal(idleHeapHolders(), 0);
});

// A client that pipelines a burst on one WebSocket without waiting: requests beyond the in-flight
// limit wait in the connection's FIFO, bounded in bytes, and only past that bound get a refusal;
// nothing is lost and every answer is the right one. A real server over the fake engine.
import t from 'tap';
import WebSocket from 'ws';
import { startServer } from '../../src/server/app.js';
import { encodeFrame, fp32Bytes, readMessage } from '../../src/wire/index.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';

function image(seed: number): Float32Array {
  const a = new Float32Array(784);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 7 + seed * 131) % 251) / 251;
  return a;
}

function request(id: number): Uint8Array {
  const header = { id, inputs: [{ name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32', parameters: { binary_data_size: 3136 } }] };
  return encodeFrame(JSON.stringify(header), [fp32Bytes(image(id))]);
}

/** Sends `n` requests at once on one connection and collects the `n` answers by id. */
async function burst(url: string, n: number): Promise<Map<number, { error?: string; logits?: number[] }>> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const answers = new Map<number, { error?: string; logits?: number[] }>();
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data: Buffer) => {
      const m = readMessage(data, true);
      const h = m.header as { id: number; error?: string };
      answers.set(h.id, h.error !== undefined ? { error: h.error } : { logits: Array.from(new Float32Array(Uint8Array.from(m.tensors).buffer)) });
      if (answers.size === n) resolve();
    });
    ws.once('close', (code) => reject(new Error(`closed ${code} after ${answers.size} answers`)));
  });
  for (let i = 0; i < n; i++) ws.send(request(i));
  await done;
  ws.close();
  return answers;
}

t.test('400 pipelined requests on one connection are all answered, correctly, with the default limits', async (t) => {
  const s = await startServer({ engines: [new FakeEngine({ delayMs: 1 })], port: 0 });
  t.teardown(() => s.close());
  const answers = await burst(`${s.url.replace('http', 'ws')}/v2/models/fake/infer/stream`, 400);
  const errors = [...answers.values()].filter((a) => a.error);
  t.equal(errors.length, 0, `no refusals (first: ${errors[0]?.error})`);
  let right = 0;
  for (const [id, a] of answers) if (JSON.stringify(a.logits) === JSON.stringify(Array.from(fakeLogits(image(id))))) right++;
  t.equal(right, 400, 'every answer is its own request');
  const m = await (await fetch(`${s.url}/metrics`)).text();
  t.match(m, /parm_requests_total\{model="fake",transport="ws",outcome="success",status="200"\} 400/);
  t.match(m, /parm_requests_in_flight\{transport="ws"\} 0/);
});

t.test('past the byte bound of the waiting requests, the excess is refused clearly and the rest answered', async (t) => {
  // The largest message of the burst (ids of two digits): ten of any of them fit.
  const size = request(99).length;
  const engine = new FakeEngine({ delayMs: 100 });
  // Two run at once, ten messages' worth may wait.
  const s = await startServer({ engines: [engine], port: 0, limits: { maxInFlightPerConnection: 2, wsMaxQueuedBytes: 10 * size } });
  t.teardown(() => s.close());
  const n = 40;
  const answers = await burst(`${s.url.replace('http', 'ws')}/v2/models/fake/infer/stream`, n);
  t.equal(answers.size, n, 'one answer for every request');
  const refused = [...answers.entries()].filter(([, a]) => a.error);
  const served = [...answers.entries()].filter(([, a]) => !a.error);
  t.ok(refused.length > 0, `${refused.length} refused: ${refused.map(([id, a]) => `${id} ${a.error}`).slice(0, 3).join("; ")}`);
  t.ok(served.length >= 12, `${served.length} served: the 2 running and the 10 that fit`);
  for (const [, a] of refused) t.match(a.error, new RegExp(`^too many requests waiting on this connection \\(\\d+ bytes queued, limit ${10 * size} bytes\\); wait for answers$`));
  for (const [id, a] of served) t.same(a.logits, Array.from(fakeLogits(image(id))), `request ${id} answered right`);
  t.ok(engine.maxSeenPending <= 2, `at most 2 of the connection's requests ran at once (${engine.maxSeenPending})`);
});

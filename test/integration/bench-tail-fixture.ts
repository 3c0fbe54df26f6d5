// A stand-in for `parm serve` in the tail benchmark's tests: a localhost WebSocket server that
// speaks the streaming protocol's framing, knows every test image's label, and answers with a
// configurable delay, reconstructed flag and correctness per query.
import { createHash } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadFashionMnistTest } from '../../src/dataset.js';

export interface FakeBehaviour {
  /** Delay (ms) before answering the query with this per-connection sequence number. */
  delayMs?: (seq: number, now: number) => number;
  /** Whether to flag this answer as reconstructed (it is then answered with a wrong class). */
  reconstructed?: (seq: number) => boolean;
  /** Answer with an error object instead. */
  error?: (seq: number) => boolean;
}

function keyOf(pixels: ArrayLike<number>): string {
  const bytes = Buffer.alloc(pixels.length);
  for (let i = 0; i < pixels.length; i++) bytes[i] = Math.round(pixels[i]! * 255);
  return createHash('sha1').update(bytes).digest('hex');
}

let labelsByImage: Map<string, number> | null = null;
function labels(): Map<string, number> {
  if (labelsByImage) return labelsByImage;
  const d = loadFashionMnistTest();
  const size = d.height * d.width;
  labelsByImage = new Map();
  for (let i = 0; i < d.count; i++) labelsByImage.set(keyOf(d.images.subarray(i * size, (i + 1) * size)), d.labels[i]!);
  return labelsByImage;
}

export interface FakeServer {
  url: string;
  port: number;
  answered: number;
  close(): Promise<void>;
}

export async function startFakeServer(b: FakeBehaviour = {}): Promise<FakeServer> {
  const map = labels();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as { port: number }).port;
  const timers = new Set<NodeJS.Timeout>();
  const state: FakeServer = {
    url: `ws://127.0.0.1:${port}/v2/models/fake/infer/stream`,
    port,
    answered: 0,
    close: () =>
      new Promise<void>((r) => {
        for (const timer of timers) clearTimeout(timer);
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
  wss.on('connection', (ws: WebSocket) => {
    let seq = 0;
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const n = seq++;
      let id: string;
      let pixels: Float32Array | number[];
      if (isBinary) {
        const len = raw.readUInt32LE(0);
        const header = JSON.parse(raw.subarray(4, 4 + len).toString()) as { id: string };
        id = header.id;
        const bytes = Buffer.from(raw.subarray(4 + len));
        pixels = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      } else {
        const req = JSON.parse(raw.toString()) as { id: string; inputs: Array<{ data: number[] }> };
        id = req.id;
        pixels = req.inputs[0]!.data;
      }
      const label = map.get(keyOf(pixels)) ?? 0;
      const recon = b.reconstructed?.(n) ?? false;
      const logits = Array.from({ length: 10 }, (_, c) => (c === (recon ? (label + 1) % 10 : label) ? 5 : -1));
      const answer = (): void => {
        state.answered++;
        if (b.error?.(n)) {
          ws.send(JSON.stringify({ id, error: 'injected' }));
          return;
        }
        const res = { id, model_name: 'fake', outputs: [{ name: 'logits', shape: [1, 10], datatype: 'FP32', data: logits }], parameters: { parm_reconstructed: recon } };
        if (isBinary) {
          const out = Buffer.from(Float32Array.from(logits).buffer);
          const header = Buffer.from(JSON.stringify({ ...res, outputs: [{ name: 'logits', shape: [1, 10], datatype: 'FP32', parameters: { binary_data_size: out.length } }] }));
          const len = Buffer.alloc(4);
          len.writeUInt32LE(header.length, 0);
          ws.send(Buffer.concat([len, header, out]), { binary: true });
        } else ws.send(JSON.stringify(res));
      };
      const delay = b.delayMs?.(n, Date.now()) ?? 0;
      if (delay > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, delay);
        timers.add(timer);
      } else answer();
    });
  });
  return state;
}

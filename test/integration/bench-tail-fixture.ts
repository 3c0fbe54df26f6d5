// A stand-in for `parm serve` in the tail benchmark's tests: a localhost WebSocket server that
// speaks the streaming protocol's framing, knows every test image's label, and answers with a
// configurable delay, reconstructed flag and correctness per query.
import { createHash } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadFashionMnistTest } from '../../src/dataset.js';
import { encodeFrame, errorResponse, fp32Bytes, readMessage, type InferRequest, type InferResponse } from '../../src/wire/index.js';

export interface FakeBehaviour {
  /** Delay (ms) before answering the query with this per-connection sequence number. */
  delayMs?: (seq: number, now: number) => number;
  /** Whether to flag this answer as reconstructed (it is then answered with a wrong class). */
  reconstructed?: (seq: number) => boolean;
  /** Answer with an error object instead. */
  error?: (seq: number) => boolean;
  /** The engine latency the answer reports (`parm_latency_ms`); undefined leaves the parameter out (default 0). */
  engineMs?: (seq: number) => number | undefined;
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
      const { header, tensors } = readMessage(raw, isBinary);
      const req = header as InferRequest & { id: string };
      const id = req.id;
      const pixels: Float32Array | number[] = isBinary ? new Float32Array(new Uint8Array(tensors).buffer) : (req.inputs[0]!.data as number[]);
      const label = map.get(keyOf(pixels)) ?? 0;
      const recon = b.reconstructed?.(n) ?? false;
      const logits = Array.from({ length: 10 }, (_, c) => (c === (recon ? (label + 1) % 10 : label) ? 5 : -1));
      const engineMs = b.engineMs ? b.engineMs(n) : 0;
      const answer = (): void => {
        state.answered++;
        if (b.error?.(n)) {
          ws.send(errorResponse('injected', id));
          return;
        }
        const out = fp32Bytes(Float32Array.from(logits));
        const res: InferResponse = {
          id,
          model_name: 'fake',
          // A stand-in may leave parm_latency_ms out, which a parm server never does.
          parameters: { parm_reconstructed: recon, parm_instance: 'deployed-0', ...(engineMs !== undefined ? { parm_latency_ms: engineMs } : {}) } as InferResponse['parameters'],
          outputs: [{ name: 'logits', shape: [1, 10], datatype: 'FP32', ...(isBinary ? { parameters: { binary_data_size: out.length } } : { data: logits }) }],
        };
        if (isBinary) ws.send(encodeFrame(JSON.stringify(res), [out]), { binary: true });
        else ws.send(JSON.stringify(res));
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

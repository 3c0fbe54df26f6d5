// The hand-written baseline of the throughput benchmark (bench/throughput.bench.ts), not part of
// parm: what a Node user writes without parm to serve an ONNX model over a WebSocket: one
// uWebSockets.js app, onnxruntime-node sessions in worker threads fed from one queue, the same
// binary frames as parm's stream (uint32 LE header length, JSON header, float32 tensor bytes),
// and no validation, coding or metrics beyond what answering needs. It answers the benchmark's
// `gc-start` / `gc-stop` on stdin (bench/gc-window.ts), as parm's benchmark child does.
// Run: node handwritten-server.js --model=FILE.onnx --workers=N; prints {"port": P, "model": "m"}.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { loadUws } from '../src/server/uws.js';
import { answerGcCommands } from './gc-window.js';

interface Job {
  id: number;
  input: Float32Array;
  shape: number[];
}

if (!isMainThread) {
  // A worker: one session, one job at a time.
  const { model } = workerData as { model: string };
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  parentPort!.on('message', async (job: Job) => {
    const out = await session.run({ [input]: new ort.Tensor('float32', job.input, job.shape) });
    const data = (out[output]!.data as Float32Array).slice();
    parentPort!.postMessage({ id: job.id, data }, [data.buffer]);
  });
  parentPort!.postMessage({ ready: true });
} else {
  const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
  const model = args.get('model')!;
  const workers: Worker[] = [];
  const idle: Worker[] = [];
  const queue: Job[] = [];
  const answer = new Map<number, (data: Float32Array) => void>();
  let nextId = 1;
  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) idle.pop()!.postMessage(queue.shift()!);
  };
  await Promise.all(
    Array.from({ length: Number(args.get('workers') ?? 2) }, async () => {
      const w = new Worker(new URL(import.meta.url), { workerData: { model } });
      await new Promise((r) => w.once('message', r));
      w.on('message', (m: { id: number; data: Float32Array }) => {
        answer.get(m.id)?.(m.data);
        answer.delete(m.id);
        idle.push(w);
        dispatch();
      });
      workers.push(w);
      idle.push(w);
    }),
  );
  answerGcCommands();
  const uws = loadUws();
  const app = uws.App();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  app.ws<{ open: boolean }>('/v2/models/:model/infer/stream', {
    maxPayloadLength: 16 * 1024 * 1024,
    upgrade: (res, req, ctx) => res.upgrade({ open: true }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), ctx),
    message: (ws, message) => {
      const bytes = new Uint8Array(message);
      const len = new DataView(message).getUint32(0, true);
      const header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + len))) as { id: string; inputs: { shape: number[] }[] };
      const input = new Float32Array(bytes.slice(4 + len).buffer);
      const id = nextId++;
      answer.set(id, (data) => {
        if (!ws.getUserData().open) return;
        const h = encoder.encode(JSON.stringify({ id: header.id, model_name: 'm', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, data.length], parameters: { binary_data_size: data.byteLength } }] }));
        const frame = new Uint8Array(4 + h.length + data.byteLength);
        new DataView(frame.buffer).setUint32(0, h.length, true);
        frame.set(h, 4);
        frame.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 4 + h.length);
        ws.send(frame, true);
      });
      queue.push({ id, input, shape: header.inputs[0]!.shape });
      dispatch();
    },
    close: (ws) => {
      ws.getUserData().open = false;
    },
  });
  app.listen('127.0.0.1', 0, (ls) => {
    process.stdout.write(`${JSON.stringify({ port: uws.us_socket_local_port(ls as Parameters<typeof uws.us_socket_local_port>[0]), model: 'm' })}\n`);
  });
  process.on('SIGTERM', () => {
    for (const w of workers) void w.terminate();
    process.exit(0);
  });
}

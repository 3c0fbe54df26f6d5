// A stand-in Open Inference Protocol model server on 127.0.0.1 (node:http, not parm) for the
// remote-instance tests: one FP32 model [-1, 4] -> [-1, 2] computing the fake linear model, whose
// behaviour a test switches at run time (slow, reset, 500, garbage, wrong shape, hang, refusing
// connections) to play every way a real backend fails.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeHttpBody, fp32Bytes, readHttpBody, type InferRequest } from '../../src/wire/index.js';
import { IN, OUT, fakeModel } from './fake-instances.js';

export type Behaviour = 'ok' | 'slow' | 'reset' | 'http500' | 'http400' | 'garbage' | 'wrong-shape' | 'hang' | 'not-ready';

export interface StandIn {
  /** http://127.0.0.1:PORT/v2/models/NAME */
  url: string;
  port: number;
  behaviour: Behaviour;
  /** Added before answering in `slow`. */
  delayMs: number;
  /** Inference requests received, and those whose client went away before the answer. */
  received: number;
  aborted: number;
  /** Most inference requests in progress at once. */
  maxConcurrent: number;
  /** The metadata's input shape (a test may make it wrong). */
  inputShape: number[];
  /** Stops accepting connections (refused) until reopen(). */
  refuse(): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export async function startStandIn(name = 'm', port = 0): Promise<StandIn> {
  let concurrent = 0;
  const open = new Set<import('node:net').Socket>();
  const s: StandIn = {
    url: '',
    port: 0,
    behaviour: 'ok',
    delayMs: 50,
    received: 0,
    aborted: 0,
    maxConcurrent: 0,
    inputShape: [-1, IN],
    refuse: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      for (const c of open) c.destroy();
    },
    reopen: () => listen(s.port),
    close: async () => {
      for (const c of open) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const infer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    s.received++;
    concurrent++;
    s.maxConcurrent = Math.max(s.maxConcurrent, concurrent);
    let answered = false;
    res.on('close', () => {
      concurrent--;
      if (!answered) s.aborted++;
    });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = new Uint8Array(Buffer.concat(chunks));
    const msg = readHttpBody(body, req.headers['inference-header-content-length'] as string | undefined);
    const header = msg.header as InferRequest;
    const batch = header.inputs[0]!.shape[0]!;
    const x = new Float32Array(new Uint8Array(msg.tensors).buffer);
    const b = s.behaviour;
    if (b === 'hang') return;
    if (b === 'reset') {
      req.socket.destroy();
      return;
    }
    if (b === 'slow') await new Promise((r) => setTimeout(r, s.delayMs));
    answered = true;
    if (b === 'http500') return json(res, 500, { error: 'scripted failure' });
    if (b === 'http400') return json(res, 400, { error: 'scripted refusal' });
    if (b === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': '5' });
      res.end(Buffer.from('{not json at all'));
      return;
    }
    const rows = b === 'wrong-shape' ? batch + 1 : batch;
    const out = new Float32Array(rows * OUT);
    for (let i = 0; i < Math.min(rows, batch); i++) out.set(fakeModel(x.subarray(i * IN, (i + 1) * IN)), i * OUT);
    const h = JSON.stringify({
      model_name: name,
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, OUT], parameters: { binary_data_size: out.byteLength } }],
    });
    const enc = encodeHttpBody(h, [fp32Bytes(out)]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(enc.headerLength) });
    res.end(enc.body);
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').replace(/\?.*$/, '');
    if (path === `/v2/models/${name}` && req.method === 'GET') {
      if (s.behaviour === 'not-ready') return json(res, 503, { error: 'loading' });
      return json(res, 200, {
        name,
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'input', datatype: 'FP32', shape: s.inputShape }],
        outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, OUT] }],
      });
    }
    if (path === `/v2/models/${name}/ready` && req.method === 'GET') {
      res.writeHead(s.behaviour === 'not-ready' ? 503 : 200);
      res.end();
      return;
    }
    if (path === `/v2/models/${name}/infer` && req.method === 'POST') {
      void infer(req, res).catch(() => res.destroy());
      return;
    }
    json(res, 404, { error: `no route ${req.method} ${path}` });
  });
  server.on('connection', (c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
  });
  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        s.port = (server.address() as AddressInfo).port;
        s.url = `http://127.0.0.1:${s.port}/v2/models/${name}`;
        resolve();
      });
    });
  await listen(port);
  return s;
}

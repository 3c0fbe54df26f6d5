// Independent gRPC clients for the tests, built with @grpc/grpc-js and @grpc/proto-loader from
// the published protocol definitions in test/fixtures/proto (KServe's grpc_predict_v2.proto; the
// streaming and statistics part of Triton's grpc_service.proto), not from the server's own .proto.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const fixtures = fileURLToPath(new URL('../fixtures/proto/', import.meta.url));
const OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

type ClientCtor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

function clientClass(path: string): ClientCtor {
  const pkg = grpc.loadPackageDefinition(loadSync(path, OPTIONS)) as unknown as { inference: { GRPCInferenceService: ClientCtor } };
  return pkg.inference.GRPCInferenceService;
}

/** A gRPC error as the client sees it. */
export type GrpcCallError = grpc.ServiceError;

export interface UnaryOptions {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

/**
 * A client whose unary calls return promises: `await c.call('ModelInfer', req)`; built from
 * KServe's proto unless `proto` names another file (the repository RPCs are only in Triton's).
 */
export class KServeClient {
  readonly raw: grpc.Client;
  constructor(address: string, creds: grpc.ChannelCredentials = grpc.credentials.createInsecure(), options?: grpc.ClientOptions, proto = `${fixtures}kserve_grpc_predict_v2.proto`) {
    this.raw = new (clientClass(proto))(address, creds, options);
  }

  call<T = any>(method: string, request: object, o: UnaryOptions = {}): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.raw as unknown as Record<string, Function>)[method]!.bind(this.raw);
      const callOptions = o.deadlineMs !== undefined ? { deadline: Date.now() + o.deadlineMs } : {};
      fn(request, o.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Starts a call and returns it, to cancel it. */
  start(method: string, request: object, done: (err: grpc.ServiceError | null, res: any) => void): grpc.ClientUnaryCall {
    return (this.raw as unknown as Record<string, Function>)[method]!.call(this.raw, request, done);
  }

  close(): void {
    this.raw.close();
  }
}

/** A Triton-proto client: ModelStreamInfer and ModelStatistics. */
export class TritonClient {
  readonly raw: grpc.Client;
  constructor(address: string, creds: grpc.ChannelCredentials = grpc.credentials.createInsecure()) {
    this.raw = new (clientClass(`${fixtures}triton_stream_subset.proto`))(address, creds);
  }

  stream(): grpc.ClientDuplexStream<object, any> {
    return (this.raw as unknown as { ModelStreamInfer(): grpc.ClientDuplexStream<object, any> }).ModelStreamInfer();
  }

  statistics(request: object): Promise<any> {
    return new Promise((resolve, reject) => {
      (this.raw as unknown as Record<string, Function>).ModelStatistics!.call(this.raw, request, (err: grpc.ServiceError | null, res: any) => (err ? reject(err) : resolve(res)));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Collects what the server sends on a stream; `done` resolves when the server ends it (OK), rejects on an error status. */
export function collect(call: grpc.ClientDuplexStream<object, any>): { got: any[]; done: Promise<void> } {
  const got: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (m: any) => got.push(m));
    call.on('end', resolve);
    call.on('error', reject);
  });
  return { got, done };
}

/** A raw FP32 tensor as gRPC bytes (little-endian, as parm's hosts). */
export function rawBytes(x: Float32Array): Buffer {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/** A raw FP32 output back as floats (copied: the Buffer may not be 4-byte aligned). */
export function floats(b: Buffer): Float32Array {
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** ModelInferRequest for an FP32 `input` of `shape`, raw or typed. */
export function inferRequest(model: string, x: Float32Array, shape: number[], raw: boolean, extra: Record<string, unknown> = {}): object {
  const input: Record<string, unknown> = { name: 'input', datatype: 'FP32', shape };
  if (!raw) input.contents = { fp32_contents: Array.from(x) };
  return { model_name: model, inputs: [input], ...(raw ? { raw_input_contents: [rawBytes(x)] } : {}), ...extra };
}

export { grpc };

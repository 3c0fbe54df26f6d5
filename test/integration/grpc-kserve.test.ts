// An independent client built from KServe's published grpc_predict_v2.proto against a real server
// (port 0, the bundled default deployment): liveness, readiness and metadata, inference with raw
// and typed contents, parm's parameters, and errors with HTTP's messages, all equal to HTTP's answers.
import t from 'tap';
import { createEngine } from '../../src/engine/engine.js';
import type { Engine } from '../../src/engine/types.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { inferHttp } from '../../src/client/index.js';
import { GRPC_STATUS } from '../../src/errors.js';
import { KServeClient, floats, inferRequest, rawBytes, type GrpcCallError } from './grpc-helpers.js';
import { direct, images, servedDeployment } from './server-helpers.js';

const deployment = servedDeployment();
const MODEL = deployment.name;
// Wait for the original up to 10 s: answers are then originals, comparable bit for bit.
const ORIGINAL = { decode: { kind: 'deadline' as const, waitMs: 10_000 } };
const ORIGINAL_PARAMS = { parm_decode: { string_param: 'deadline' }, parm_deadline_ms: { int64_param: '10000' } };

let engine: Engine;
let server: ParmServer;
let client: KServeClient;

t.before(async () => {
  engine = await createEngine({ ...deployment, instances: 2, isolation: 'thread', threadsPerSession: 1 });
  server = await startServer({ engines: [engine], port: 0, grpcPort: 0 });
  client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
});
t.teardown(async () => {
  client?.close();
  await server?.close();
});

async function httpJson(path: string, init?: RequestInit): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.url}${path}`, init);
  return { status: r.status, body: await r.json() };
}

async function grpcFails(method: string, request: object): Promise<GrpcCallError> {
  try {
    await client.call(method, request);
  } catch (err) {
    return err as GrpcCallError;
  }
  throw new Error(`${method} succeeded`);
}

t.test('the gRPC port is printed as a grpc:// URL and differs from the HTTP port', async (t) => {
  t.match(server.grpcUrl, /^grpc:\/\/127\.0\.0\.1:\d+$/);
  t.not(server.grpcPort, server.port);
});

t.test('liveness, readiness and metadata, equal to HTTP', async (t) => {
  t.same(await client.call('ServerLive', {}), { live: true });
  t.same(await client.call('ServerReady', {}), { ready: true });
  t.same(await client.call('ModelReady', { name: MODEL }), { ready: true });
  t.same(await client.call('ModelReady', { name: MODEL, version: '1' }), { ready: true });

  const sm = await client.call('ServerMetadata', {});
  t.same(sm, (await httpJson('/v2')).body, 'ServerMetadata = GET /v2');
  t.ok(sm.extensions.includes('statistics') && sm.extensions.includes('model_repository'));

  const mm = await client.call('ModelMetadata', { name: MODEL });
  const http = (await httpJson(`/v2/models/${MODEL}`)).body;
  // int64 shapes arrive as decimal strings (loader option longs: String).
  const numeric = (list: any[]) => list.map((x) => ({ ...x, shape: x.shape.map(Number) }));
  t.same({ ...mm, inputs: numeric(mm.inputs), outputs: numeric(mm.outputs) }, http, 'ModelMetadata = GET /v2/models/{m}');
  t.equal(mm.platform, 'onnxruntime_onnx');

  const nf = await grpcFails('ModelMetadata', { name: 'nope' });
  t.equal(nf.code, GRPC_STATUS.NOT_FOUND);
  t.equal(nf.details, (await httpJson('/v2/models/nope')).body.error, 'the same message as HTTP');
  t.equal((await grpcFails('ModelReady', { name: 'nope' })).code, GRPC_STATUS.NOT_FOUND);
  t.equal((await grpcFails('ModelMetadata', { name: MODEL, version: '7' })).code, GRPC_STATUS.NOT_FOUND);
});

t.test('ModelInfer with raw and typed contents: answers equal HTTP and a direct onnxruntime run', async (t) => {
  const x = images(5, 21);
  const want = await direct(deployment.deployedModel!, x);
  const one = (i: number) => x.subarray(i * 784, (i + 1) * 784);
  const row = (i: number) => Array.from(want.subarray(i * 10, (i + 1) * 10));

  const raw = await client.call('ModelInfer', inferRequest(MODEL, one(0), [1, 1, 28, 28], true, { id: 'r-1', parameters: ORIGINAL_PARAMS }));
  t.equal(raw.id, 'r-1', 'the id comes back');
  t.equal(raw.model_name, MODEL);
  t.equal(raw.model_version, '1');
  t.equal(raw.raw_output_contents.length, 1, 'a raw request gets raw outputs');
  t.equal(raw.outputs[0].contents, null);
  t.same(raw.outputs[0].shape.map(Number), [1, 10]);
  t.equal(raw.outputs[0].datatype, 'FP32');
  t.same(Array.from(floats(raw.raw_output_contents[0])), row(0), 'raw = direct');
  const http = await inferHttp(server.url, MODEL, one(0), { ...ORIGINAL, binary: true });
  t.same(Array.from(floats(raw.raw_output_contents[0])), Array.from(http.output), 'raw = HTTP');
  t.same(raw.parameters.parm_reconstructed, { bool_param: false, parameter_choice: 'bool_param' });
  t.same(raw.outputs[0].parameters.parm_reconstructed, { bool_param: false, parameter_choice: 'bool_param' });
  t.match(raw.parameters.parm_instance, { string_param: /^deployed-\d+$/ });

  const typed = await client.call('ModelInfer', inferRequest(MODEL, one(1), [1, 1, 28, 28], false, { parameters: ORIGINAL_PARAMS }));
  t.equal(typed.raw_output_contents.length, 0, 'a typed request gets typed outputs');
  // fp32 values travel as float32: compare as float32.
  t.same(Array.from(Float32Array.from(typed.outputs[0].contents.fp32_contents)), row(1), 'typed = direct');
  t.equal(typed.id, '');

  const batch = await client.call('ModelInfer', inferRequest(MODEL, x.subarray(0, 3 * 784), [3, 1, 28, 28], true, { parameters: ORIGINAL_PARAMS }));
  t.same(batch.outputs[0].shape.map(Number), [3, 10], 'a batch keeps its batch dimension');
  t.same(Array.from(floats(batch.raw_output_contents[0])), Array.from(want.subarray(0, 30)));

  const asked = await client.call('ModelInfer', inferRequest(MODEL, one(2), [1, 1, 28, 28], false, {
    parameters: { ...ORIGINAL_PARAMS, binary_data_output: { bool_param: true } },
    outputs: [{ name: 'logits' }],
  }));
  t.equal(asked.raw_output_contents.length, 1, 'binary_data_output asks a typed request for raw outputs');
  t.same(Array.from(floats(asked.raw_output_contents[0])), row(2));
});

t.test('errors: gRPC status codes with the messages HTTP sends for the same request', async (t) => {
  const x = images(1, 5);
  const httpError = async (body: object) => (await httpJson(`/v2/models/${MODEL}/infer`, { method: 'POST', body: JSON.stringify(body) })).body.error;
  const jsonInput = { name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(x) };

  const badName = await grpcFails('ModelInfer', { ...inferRequest(MODEL, x, [1, 1, 28, 28], true), inputs: [{ name: 'wrong', datatype: 'FP32', shape: [1, 1, 28, 28] }] });
  t.equal(badName.code, GRPC_STATUS.INVALID_ARGUMENT);
  t.equal(badName.details, await httpError({ inputs: [{ ...jsonInput, name: 'wrong' }] }));

  const badType = await grpcFails('ModelInfer', { ...inferRequest(MODEL, x, [1, 1, 28, 28], true), inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 1, 28, 28] }] });
  t.equal(badType.code, GRPC_STATUS.INVALID_ARGUMENT);
  t.equal(badType.details, await httpError({ inputs: [{ ...jsonInput, datatype: 'FP16' }] }));

  const badDecode = await grpcFails('ModelInfer', inferRequest(MODEL, x, [1, 1, 28, 28], true, { parameters: { parm_decode: { string_param: 'later' } } }));
  t.equal(badDecode.code, GRPC_STATUS.INVALID_ARGUMENT);
  t.equal(badDecode.details, await httpError({ parameters: { parm_decode: 'later' }, inputs: [jsonInput] }));

  const shortRaw = await grpcFails('ModelInfer', { ...inferRequest(MODEL, x, [1, 1, 28, 28], true), raw_input_contents: [rawBytes(x.subarray(0, 10))] });
  t.equal(shortRaw.code, GRPC_STATUS.INVALID_ARGUMENT);
  t.match(shortRaw.details, /raw_input_contents\[0\] has 40 bytes; input 'input' of shape \[1, 1, 28, 28\] FP32 needs 3136/);

  const shortTyped = await grpcFails('ModelInfer', inferRequest(MODEL, x.subarray(0, 10), [1, 1, 28, 28], false));
  t.equal(shortTyped.code, GRPC_STATUS.INVALID_ARGUMENT);
  t.equal(shortTyped.details, await httpError({ inputs: [{ ...jsonInput, data: Array.from(x.subarray(0, 10)) }] }));

  const big = await grpcFails('ModelInfer', inferRequest(MODEL, new Float32Array(0), [2000, 1, 28, 28], false));
  t.equal(big.code, GRPC_STATUS.RESOURCE_EXHAUSTED, 'a batch above maxBatch (HTTP 413)');

  const unknown = await grpcFails('ModelInfer', inferRequest('nope', x, [1, 1, 28, 28], true));
  t.equal(unknown.code, GRPC_STATUS.NOT_FOUND);
  t.equal(unknown.details, "unknown model 'nope'");

  const nan = Float32Array.from(x);
  nan[3] = Number.NaN;
  const nonFinite = await grpcFails('ModelInfer', inferRequest(MODEL, nan, [1, 1, 28, 28], true));
  t.equal(nonFinite.code, GRPC_STATUS.INVALID_ARGUMENT, 'a non-finite input is refused by the engine');

  // The server keeps serving after every bad request.
  const ok = await client.call('ModelInfer', inferRequest(MODEL, x, [1, 1, 28, 28], true));
  t.equal(ok.raw_output_contents.length, 1);
});

t.test('/metrics counts gRPC requests under transport="grpc"', async (t) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  t.match(text, new RegExp(`parm_requests_total\\{model="${MODEL}",transport="grpc",outcome="success",status="200"\\} \\d+`));
  t.match(text, new RegExp(`parm_requests_total\\{model="${MODEL}",transport="grpc",outcome="failure",status="400"\\} \\d+`));
  t.match(text, /parm_requests_total\{model="",transport="grpc",outcome="failure",status="404"\} 1/);
  t.match(text, new RegExp(`parm_request_duration_seconds_count\\{model="${MODEL}",transport="grpc",reconstructed="false"\\} \\d+`));
});

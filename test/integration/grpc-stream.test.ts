// A streaming client built from Triton's published grpc_service.proto (ModelStreamInfer) against a
// real server (port 0, the bundled default deployment): requests pipelined far beyond the
// in-flight limit are all answered (flow control, not refusals), each answer equals HTTP's for the
// same input, an error answer keeps the stream open, and the statistics (gRPC ModelStatistics and
// GET .../stats) count what was served.
import t from 'tap';
import { createEngine } from '../../src/engine/engine.js';
import type { Engine } from '../../src/engine/types.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { inferHttp } from '../../src/client/index.js';
import { TritonClient, collect, floats, inferRequest } from './grpc-helpers.js';
import { images, servedDeployment } from './server-helpers.js';

const deployment = servedDeployment();
const MODEL = deployment.name;
const ORIGINAL = { decode: { kind: 'deadline' as const, waitMs: 10_000 } };
const ORIGINAL_PARAMS = { parm_decode: { string_param: 'deadline' }, parm_deadline_ms: { int64_param: '10000' } };
const IN_FLIGHT = 8;

let engine: Engine;
let server: ParmServer;
let client: TritonClient;

t.before(async () => {
  engine = await createEngine({ ...deployment, instances: 2, isolation: 'thread', threadsPerSession: 1 });
  server = await startServer({ engines: [engine], port: 0, grpcPort: 0, limits: { maxInFlightPerConnection: IN_FLIGHT } });
  client = new TritonClient(`127.0.0.1:${server.grpcPort}`);
});
t.teardown(async () => {
  client?.close();
  await server?.close();
});

t.test('a pipelined stream far beyond the in-flight limit: every request answered, equal to HTTP', async (t) => {
  const N = 120;
  const x = images(N, 77);
  const one = (i: number) => x.subarray(i * 784, (i + 1) * 784);
  const call = client.stream();
  const { got, done } = collect(call);
  // Written without waiting: HTTP/2 flow control holds the client back while the server stops reading.
  for (let i = 0; i < N; i++) call.write(inferRequest(MODEL, one(i), [1, 1, 28, 28], i % 2 === 0, { id: `q${i}`, parameters: ORIGINAL_PARAMS }));
  call.end();
  await done;
  const errors = got.filter((m) => m.error_message !== '').map((m) => m.error_message);
  const answers = new Map<string, any>(got.filter((m) => m.error_message === '').map((m) => [m.infer_response.id, m.infer_response]));
  t.same(errors, [], 'no request was refused');
  t.equal(answers.size, N, 'every request answered, then the server ended the stream');
  for (const i of [0, 1, 2, 57, 118, 119]) {
    const a = answers.get(`q${i}`)!;
    const got = i % 2 === 0 ? floats(a.raw_output_contents[0]) : Float32Array.from(a.outputs[0].contents.fp32_contents);
    const http = await inferHttp(server.url, MODEL, one(i), { ...ORIGINAL, binary: true });
    t.same(Array.from(got), Array.from(http.output), `answer q${i} (${i % 2 === 0 ? 'raw' : 'typed'}) = HTTP's`);
    t.equal(a.parameters.parm_reconstructed.bool_param, false);
  }
});

t.test('an error answer names the problem, carries the id, and the stream stays open', async (t) => {
  const x = images(1, 3);
  const call = client.stream();
  const { got, done } = collect(call);
  call.write({ model_name: MODEL, id: 'bad', inputs: [{ name: 'wrong', datatype: 'FP32', shape: ['1', '1', '28', '28'] }], raw_input_contents: [Buffer.alloc(3136)] });
  call.write({ model_name: 'nope', id: 'unknown', inputs: [] });
  call.write(inferRequest(MODEL, x, [1, 1, 28, 28], true, { id: 'good' }));
  call.end();
  await done;
  const byId = new Map(got.map((m) => [m.infer_response.id, m]));
  t.match(byId.get('bad')?.error_message, /unknown input "wrong"; model '.*' expects 'input'/);
  t.equal(byId.get('unknown')?.error_message, "unknown model 'nope'");
  t.equal(byId.get('good')?.error_message, '');
  t.equal(byId.get('good')?.infer_response.raw_output_contents.length, 1, 'the request after the errors is answered');
});

t.test('statistics: gRPC ModelStatistics and GET /v2/models/{m}/stats agree with what was served', async (t) => {
  const grpcStats = await client.statistics({ name: MODEL });
  const http = (await (await fetch(`${server.url}/v2/models/${MODEL}/stats`)).json()) as any;
  t.equal(grpcStats.model_stats.length, 1);
  const g = grpcStats.model_stats[0];
  const h = http.model_stats[0];
  t.equal(h.name, MODEL);
  t.equal(h.version, '1');
  // 120 + 1 stream answers, 6 HTTP comparisons: the statistics count every transport.
  t.equal(h.inference_count, 127);
  t.equal(h.inference_stats.success.count, 127);
  t.ok(h.inference_stats.success.ns > 0);
  t.ok(h.execution_count >= 127, 'each sample ran on the deployed model at least once');
  t.ok(h.last_inference > Date.now() - 600_000 && h.last_inference <= Date.now());
  t.equal(h.parm_queries, 127);
  t.equal(typeof h.parm_reconstructions, 'number');
  t.same(
    { name: g.name, version: g.version, inference_count: Number(g.inference_count), execution_count: Number(g.execution_count), success: Number(g.inference_stats.success.count) },
    { name: h.name, version: h.version, inference_count: h.inference_count, execution_count: h.execution_count, success: h.inference_stats.success.count },
    'the same numbers over gRPC',
  );
  const all = (await (await fetch(`${server.url}/v2/models/stats`)).json()) as any;
  t.same(all.model_stats.map((m: any) => m.name), [MODEL]);
  t.equal((await fetch(`${server.url}/v2/models/${MODEL}/versions/1/stats`)).status, 200);
  t.equal((await fetch(`${server.url}/v2/models/${MODEL}/versions/9/stats`)).status, 404);
  t.equal((await fetch(`${server.url}/v2/models/nope/stats`)).status, 404);
});

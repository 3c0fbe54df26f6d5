// The gRPC front through real sockets over the fake engine: a client's deadline and cancellation
// reach the engine (the query is withdrawn), the message-size and in-flight limits, the shutdown
// drain, a busy port, TLS with a self-signed certificate, and the model repository (unload drains
// and stops a deployment, load starts it again) over HTTP and gRPC.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GRPC_STATUS } from '../../src/errors.js';
import { protoFile } from '../../src/grpc/service.js';
import { startServer, type ParmServer } from '../../src/server/app.js';
import { FakeEngine, fakeLogits } from '../helpers/fake-engine.js';
import { KServeClient, TritonClient, collect, floats, grpc, inferRequest, type GrpcCallError } from './grpc-helpers.js';

function image(seed: number): Float32Array {
  const a = new Float32Array(784);
  for (let i = 0; i < a.length; i++) a[i] = ((i * 31 + seed * 977) % 255) / 255;
  return a;
}

async function fails(p: Promise<unknown>): Promise<GrpcCallError> {
  try {
    await p;
  } catch (err) {
    return err as GrpcCallError;
  }
  throw new Error('the call succeeded');
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function serve(engines: FakeEngine[], extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<{ server: ParmServer; client: KServeClient }> {
  const server = await startServer({ engines, port: 0, grpcPort: 0, ...extra });
  return { server, client: new KServeClient(`127.0.0.1:${server.grpcPort}`) };
}

t.test('a gRPC deadline and a cancelled call withdraw the query from the engine', async (t) => {
  const engine = new FakeEngine({ delayMs: 8000 });
  const { server, client } = await serve([engine]);
  t.teardown(async () => {
    client.close();
    await server.close();
  });
  // Connected first, so that the deadline is spent in the engine.
  await client.call('ServerLive', {});
  const x = image(1);
  const started = Date.now();
  const late = await fails(client.call('ModelInfer', inferRequest('fake', x, [1, 1, 28, 28], true), { deadlineMs: 600 }));
  t.equal(late.code, GRPC_STATUS.DEADLINE_EXCEEDED);
  t.ok(Date.now() - started < 5000, 'answered at the deadline, not when the engine would have');
  await until(() => engine.pending === 0);
  t.equal(engine.cancelled, 1, 'the engine was told to drop the query');
  t.ok(engine.lastOptions?.timeoutMs !== undefined && engine.lastOptions.timeoutMs <= 600, 'the engine timeout is the time left before the deadline');

  const call = client.start('ModelInfer', inferRequest('fake', x, [1, 1, 28, 28], true), () => undefined);
  await until(() => engine.pending === 1);
  call.cancel();
  await until(() => engine.pending === 0);
  t.equal(engine.cancelled, 2, 'a cancelled call withdraws its query');
  const text = await server.metrics.text();
  t.match(text, /parm_requests_total\{model="fake",transport="grpc",outcome="failure",status="504"\} 1/, 'the deadline counted as 504');
  t.match(text, /parm_requests_total\{model="fake",transport="grpc",outcome="failure",status="499"\} 1/, 'the cancel counted as 499');
});

t.test('limits: a message above maxMessageBytes is RESOURCE_EXHAUSTED; a stream never runs more than the in-flight limit', async (t) => {
  const engine = new FakeEngine({ delayMs: 3 });
  const { server, client } = await serve([engine], { limits: { maxMessageBytes: 16 * 1024, maxInFlightPerConnection: 4 } });
  t.teardown(async () => {
    client.close();
    await server.close();
  });
  const big = await fails(client.call('ModelInfer', inferRequest('fake', new Float32Array(784 * 8), [8, 1, 28, 28], true)));
  t.equal(big.code, GRPC_STATUS.RESOURCE_EXHAUSTED);
  t.equal(engine.calls, 0);

  const triton = new TritonClient(`127.0.0.1:${server.grpcPort}`);
  t.teardown(() => triton.close());
  const call = triton.stream();
  const { got, done } = collect(call);
  const N = 60;
  for (let i = 0; i < N; i++) call.write(inferRequest('fake', image(i), [1, 1, 28, 28], true, { id: String(i) }));
  call.end();
  await done;
  t.equal(got.length, N);
  t.same(got.filter((m) => m.error_message !== ''), [], 'nothing refused');
  t.ok(engine.maxSeenPending <= 4, `at most 4 in the engine at once (saw ${engine.maxSeenPending})`);
  const byId = new Map(got.map((m) => [m.infer_response.id, m.infer_response]));
  t.same(Array.from(floats(byId.get('17').raw_output_contents[0])), Array.from(fakeLogits(image(17))));

  // Unary calls on one connection beyond MAX_CONCURRENT_STREAMS wait in the client.
  const seen = engine.maxSeenPending;
  engine.maxSeenPending = 0;
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => client.call('ModelInfer', inferRequest('fake', image(i), [1, 1, 28, 28], true, { id: `u${i}` }))));
  t.same(answers.map((a) => a.id), Array.from({ length: 12 }, (_, i) => `u${i}`), 'every unary call answered');
  t.ok(engine.maxSeenPending <= 4, `at most 4 unary calls of one connection at once (saw ${engine.maxSeenPending}, stream saw ${seen})`);
});

t.test('shutdown: requests in flight are answered, new calls refused, open streams ended UNAVAILABLE', async (t) => {
  const engine = new FakeEngine({ delayMs: 300 });
  const { server, client } = await serve([engine]);
  const triton = new TritonClient(`127.0.0.1:${server.grpcPort}`);
  t.teardown(() => {
    client.close();
    triton.close();
  });
  const unary = client.call('ModelInfer', inferRequest('fake', image(1), [1, 1, 28, 28], true, { id: 'u' }));
  const call = triton.stream();
  const streamed: any[] = [];
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('data', (m: any) => streamed.push(m));
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(null));
  });
  call.write(inferRequest('fake', image(2), [1, 1, 28, 28], true, { id: 's' }));
  await until(() => engine.pending === 2);
  const closing = server.close();
  await new Promise((r) => setTimeout(r, 50));
  call.write(inferRequest('fake', image(3), [1, 1, 28, 28], true, { id: 'during-drain' }));
  const answer = await unary;
  t.equal(answer.id, 'u', 'the unary call in flight is answered');
  const end = await ended;
  await closing;
  t.equal(end?.code, GRPC_STATUS.UNAVAILABLE, 'the stream is ended with UNAVAILABLE');
  t.equal(end?.details, 'server is shutting down');
  const byId = new Map(streamed.map((m) => [m.infer_response.id, m]));
  t.equal(byId.get('s')?.error_message, '', 'the stream request in flight is answered');
  t.equal(byId.get('during-drain')?.error_message, 'server is shutting down', 'a request sent during the drain is refused');
  const after = new KServeClient(`127.0.0.1:${server.grpcPort}`);
  t.teardown(() => after.close());
  t.equal((await fails(after.call('ServerLive', {}, { deadlineMs: 2000 }))).code, GRPC_STATUS.UNAVAILABLE, 'nothing listens any more');
});

t.test('a busy gRPC port fails at once with a clear error (no silent sharing)', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const started = Date.now();
  await t.rejects(startServer({ engines: [new FakeEngine()], port: 0, grpcPort: port }), { code: 'PARM_ERR_SERVER_CONFIG', message: new RegExp(`cannot listen for gRPC on 127\\.0\\.0\\.1:${port}`) });
  t.ok(Date.now() - started < 3000, 'at once');

  const first = await startServer({ engines: [new FakeEngine()], port: 0, grpcPort: 0 });
  t.teardown(() => first.close());
  await t.rejects(startServer({ engines: [new FakeEngine()], port: 0, grpcPort: first.grpcPort }), { message: /cannot listen for gRPC/ }, 'a second parm on the same gRPC port');
  // uWebSockets.js binds with SO_REUSEPORT; gRPC does not, so it cannot join that port either.
  await t.rejects(startServer({ engines: [new FakeEngine()], port: 0, grpcPort: first.port }), { message: /cannot listen for gRPC/ }, "gRPC on another server's HTTP port");
});

t.test('TLS: --grpc-tls-cert/--grpc-tls-key serve grpcs with a self-signed certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-grpc-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const server = await startServer({ engines: [new FakeEngine()], port: 0, grpcPort: 0, grpcTls: { cert: readFileSync(cert), key: readFileSync(key) } });
  t.teardown(() => server.close());
  t.match(server.grpcUrl, /^grpcs:\/\//);
  const secure = new KServeClient(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createSsl(readFileSync(cert)), { 'grpc.ssl_target_name_override': 'localhost' });
  t.teardown(() => secure.close());
  t.same(await secure.call('ServerLive', {}), { live: true });
  const r = await secure.call('ModelInfer', inferRequest('fake', image(4), [1, 1, 28, 28], true));
  t.same(Array.from(floats(r.raw_output_contents[0])), Array.from(fakeLogits(image(4))), 'inference over TLS');
  const plain = new KServeClient(`127.0.0.1:${server.grpcPort}`);
  t.teardown(() => plain.close());
  t.equal((await fails(plain.call('ServerLive', {}, { deadlineMs: 2000 }))).code, GRPC_STATUS.UNAVAILABLE, 'a plain-text client cannot talk to the TLS port');
});

t.test('model repository: unload drains and stops a deployment, load starts it again (HTTP and gRPC)', async (t) => {
  const made: FakeEngine[] = [];
  const factory = (o: { name: string }) => {
    const e = new FakeEngine({ name: o.name, delayMs: 100 });
    made.push(e);
    return e;
  };
  const a = new FakeEngine({ name: 'a', delayMs: 100 });
  const b = new FakeEngine({ name: 'b' });
  const { server, client } = await serve([a, b], { engineFactory: factory });
  const repo = new KServeClient(`127.0.0.1:${server.grpcPort}`, undefined, undefined, protoFile());
  t.teardown(async () => {
    client.close();
    repo.close();
    await server.close();
  });
  const post = async (path: string, body?: unknown) => {
    const r = await fetch(`${server.url}${path}`, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, body: await r.json() };
  };
  const inflight = client.call('ModelInfer', inferRequest('a', image(1), [1, 1, 28, 28], true, { id: 'before-unload' }));
  await until(() => a.pending === 1);
  const unload = await post('/v2/repository/models/a/unload');
  t.same(unload, { status: 200, body: {} });
  t.ok(a.closed, "the deployment's engine was stopped");
  t.equal((await inflight).id, 'before-unload', 'the request in flight was answered');

  const index = await post('/v2/repository/index', {});
  t.same(index.body, [
    { name: 'a', version: '1', state: 'UNAVAILABLE', reason: 'unloaded (POST /v2/repository/models/a/load to load it)' },
    { name: 'b', version: '1', state: 'READY', reason: '' },
  ]);
  const refused: { status: number; body: any } = await post('/v2/models/a/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 1, 28, 28], data: Array.from(image(1)) }] });
  t.equal(refused.status, 503);
  t.equal(refused.body.error, "model 'a' is not ready: unloaded (POST /v2/repository/models/a/load to load it)");
  const g = await fails(client.call('ModelInfer', inferRequest('a', image(1), [1, 1, 28, 28], true)));
  t.equal(g.code, GRPC_STATUS.UNAVAILABLE);
  t.equal(g.details, refused.body.error, 'the same message over gRPC');
  t.same(await client.call('ModelReady', { name: 'a' }), { ready: false });
  t.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200, 'a deployment unloaded on request does not make the server unready');

  t.same(await post('/v2/repository/models/a/load'), { status: 200, body: {} });
  t.equal(made.length, 1, 'a fresh engine from the same options');
  const again = await client.call('ModelInfer', inferRequest('a', image(2), [1, 1, 28, 28], true));
  t.same(Array.from(floats(again.raw_output_contents[0])), Array.from(fakeLogits(image(2))), 'served again after load');
  t.same(await post('/v2/repository/models/a/load'), { status: 200, body: {} }, 'loading a loaded model is a no-op');
  t.equal(made.length, 1);

  t.same(await repo.call('RepositoryModelUnload', { model_name: 'b' }), {});
  const grpcIndex = await repo.call('RepositoryIndex', { ready: true });
  t.same(grpcIndex.models.map((m: any) => m.name), ['a'], 'gRPC RepositoryIndex, ready only');
  t.same(await repo.call('RepositoryModelLoad', { model_name: 'b' }), {});
  t.equal((await repo.call('RepositoryIndex', {})).models.filter((m: any) => m.state === 'READY').length, 2);
  t.equal((await fails(repo.call('RepositoryModelLoad', { model_name: 'nope' }))).code, GRPC_STATUS.NOT_FOUND);
  t.equal((await post('/v2/repository/models/nope/unload')).status, 404);
  t.equal((await post('/v2/repository/models/a/load', [1])).status, 400, 'a body that is not an object');

  const stats = await repo.call('ModelStatistics', { name: 'a' });
  t.equal(Number(stats.model_stats[0].inference_count), 2, 'statistics survive unload and load');
  t.equal(Number(stats.model_stats[0].inference_stats.fail.count), 0);
});

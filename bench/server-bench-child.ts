// One server process for bench/server.bench.ts: either the parm server (mode none or parm) on the
// benchmark's deployment, or a bare uWebSockets.js app on the same routes that answers every
// request with a fixed payload of the size parm's answer has (the transport's ceiling).
// Prints one JSON line {"port": N} on stdout once ready; exits on SIGTERM.
import { existsSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createEngine } from '../src/engine/engine.js';
import { bundledManifestPath, deploymentFromManifest, readManifest } from '../src/engine/manifest.js';
import type { EngineOptions, Mode } from '../src/engine/types.js';
import { startServer } from '../src/server/app.js';
import { loadUws } from '../src/server/uws.js';
import { answerGcCommands } from './gc-window.js';
import { instantInstanceFactory } from './instant-instance.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));

/** The bundled default deployment when models/manifest.json exists, else the fixture MLP. */
function benchDeployment(): EngineOptions {
  const manifest = bundledManifestPath();
  if (existsSync(manifest)) return deploymentFromManifest(manifest, readManifest(manifest).default, { k: 2, encoder: 'sum' });
  const fixtures = join(dirname(dirname(manifest)), 'test', 'fixtures', 'models');
  return {
    name: 'fixture-mlp',
    deployedModel: join(fixtures, 'mlp.onnx'),
    parityModels: [{ path: join(fixtures, 'mlp-parity-a.onnx') }],
    k: 2,
    encoder: 'sum',
  };
}

async function main(): Promise<void> {
  const system = args.get('system') ?? 'parm';
  if (system === 'echo') {
    const sizes = JSON.parse(args.get('sizes') ?? '{}') as Record<string, number>;
    const fill = (n: number, ch: string) => Buffer.alloc(n ?? 64, ch);
    const wsBin = fill(sizes.wsBinary!, 'b');
    const wsText = fill(sizes.wsJson!, 'j').toString();
    const httpBin = fill(sizes.httpBinary!, 'b');
    const httpJson = fill(sizes.httpJson!, 'j');
    const uws = loadUws();
    const app = uws.App();
    app.ws('/v2/models/:model/infer/stream', {
      maxPayloadLength: 16 * 1024 * 1024,
      idleTimeout: 120,
      message: (ws, _msg, isBinary) => {
        if (isBinary) ws.send(wsBin, true);
        else ws.send(wsText, false);
      },
    });
    app.post('/v2/models/:model/infer', (res, req) => {
      const binary = req.getHeader('inference-header-content-length') !== '';
      let aborted = false;
      res.onAborted(() => (aborted = true));
      res.onData((_chunk, isLast) => {
        if (!isLast || aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('Content-Type', binary ? 'application/octet-stream' : 'application/json');
          res.end(binary ? httpBin : httpJson);
        });
      });
    });
    app.listen('127.0.0.1', 0, (ls) => {
      if (!ls) throw new Error('echo: cannot listen');
      process.stdout.write(JSON.stringify({ port: uws.us_socket_local_port(ls as never) }) + '\n');
    });
    process.on('SIGTERM', () => process.exit(0));
    return;
  }
  // --system=parm|none|equal-resources|hedged, with --k (the parity models for that k), --defer (parityDeferMs).
  const mode = system as Mode;
  const k = Number(args.get('k') ?? 2);
  const base = benchDeployment();
  const manifest = bundledManifestPath();
  const deployment = k !== 2 && existsSync(manifest) ? deploymentFromManifest(manifest, base.name, { k, encoder: 'sum' }) : base;
  const defer = args.get('defer');
  // --instant: instances that answer at once on this thread (bench/main-thread.bench.ts).
  const runtime = args.has('instant') ? { instanceFactory: await instantInstanceFactory(deployment.deployedModel!) } : {};
  const engine = await createEngine({
    ...deployment,
    mode,
    instances: Number(args.get('instances') ?? 2),
    threadsPerSession: 1,
    ...(defer !== undefined ? { parityDeferMs: Number(defer) } : {}),
  }, runtime);
  const server = await startServer({ engines: [engine], port: 0, limits: { maxInFlightPerConnection: 100_000 } });
  const instances = engine.metrics().instances.map((i) => ({ id: i.id, role: i.role, tid: i.tid ?? null }));
  process.stdout.write(JSON.stringify({ port: server.port, model: engine.info.name, pid: process.pid, instances }) + '\n');
  // Commands on stdin (bench/cpu-breakdown.bench.ts): `profile-start`, `profile-stop FILE` (a CPU
  // profile of this main thread over exactly the measured window), `heap-start`, `heap-stop FILE`
  // (a sampling profile of what this main thread allocated, collected objects included),
  // `heap-start survivors` samples only what outlived a young-generation collection (promoted to
  // the old generation, or allocated there), whether a full collection later freed it or not;
  // `full-gc`: one full mark-compact now (bench:alloc --full-gc);
  // `metrics` (engine metrics JSON); `gc-start` / `gc-stop` (bench/gc-window.ts).
  answerGcCommands();
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  let lines = '';
  process.stdin.on('data', (chunk: Buffer) => {
    lines += chunk.toString('utf8');
    for (let nl = lines.indexOf('\n'); nl >= 0; nl = lines.indexOf('\n')) {
      const [cmd, arg] = lines.slice(0, nl).split(' ');
      lines = lines.slice(nl + 1);
      void (async () => {
        if (cmd === 'profile-start') {
          await post('Profiler.enable');
          await post('Profiler.setSamplingInterval', { interval: 200 });
          await post('Profiler.start');
          process.stdout.write('{"profiling":true}\n');
        } else if (cmd === 'profile-stop') {
          const { profile } = (await post('Profiler.stop')) as { profile: unknown };
          writeFileSync(arg!, JSON.stringify(profile));
          process.stdout.write('{"profiled":true}\n');
        } else if (cmd === 'heap-start') {
          await post('HeapProfiler.enable');
          const young = arg !== 'survivors';
          await post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: young });
          process.stdout.write('{"sampling":true}\n');
        } else if (cmd === 'heap-stop') {
          const { profile } = (await post('HeapProfiler.stopSampling')) as { profile: unknown };
          writeFileSync(arg!, JSON.stringify(profile));
          process.stdout.write('{"sampled":true}\n');
        } else if (cmd === 'full-gc') {
          setFlagsFromString('--expose-gc');
          (runInNewContext('gc') as () => void)();
          process.stdout.write('{"collected":true}\n');
        } else if (cmd === 'metrics') {
          process.stdout.write(`${JSON.stringify({ metrics: engine.metrics() })}\n`);
        }
      })();
    }
  });
  process.on('SIGTERM', () => {
    server.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`server-bench-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

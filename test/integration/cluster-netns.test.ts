// The fleet across real hosts on one machine: a `parm serve --config` frontend, four deployed and two
// parity `parm worker`s and a client, each in its own network namespace on one bridge (10.231.1.0/24,
// nothing routed outside), the bundled default deployment (k = 2, sum). Faults made for real
// between hosts: a worker killed with SIGKILL and restarted, packet loss and a partition
// (nftables), a link saturated by a bulk transfer through a rate-limited veth (tbf), one
// established TCP connection stalled (nftables drops its packets). Checked: every query answered
// exactly once, reconstructions flagged, the failed backend down in /metrics and back when it
// returns, the frontend's heap and external memory flat between two equal phases of load.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { NetnsCluster, netnsUnavailable, nftUnavailable } from '../../src/bench/tail/netns.js';
import { spawnParm, spawnParmWorker, type ParmProcess } from '../../src/bench/tail/serve-process.js';
import { BulkAgents } from '../../src/bench/tail/transfers.js';
import type { ServeConfigFile } from '../../src/server/config.js';
import type { ClientReport, ClientRequest, QueryOutcome } from '../helpers/cluster-client.js';
import { freshDistCli } from '../helpers/dist-cli.js';
import { MEMORY_PROBE_PREFIX } from '../helpers/memory-probe.js';
import { direct, images, servedDeployment } from './server-helpers.js';

const skip = netnsUnavailable() ?? nftUnavailable();
// Seven `parm` processes: the compiled CLI where dist/ is up to date (CI builds it in `npm ci`),
// else the sources under the TypeScript loader, about 6 s of CPU each: slow on a busy machine.
const dist = freshDistCli();
const cli = dist.entry === null ? {} : { entry: dist.entry, execArgv: [] as string[] };
if (!skip) t.setTimeout(dist.entry === null ? 900_000 : 300_000);

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const CLIENT = here('../helpers/cluster-client.ts');
const PROBE = new URL('../helpers/memory-probe.ts', import.meta.url).href;
const PORT = 8000;
const RATE = 50;
/** Queries of each fault phase (about 5 s at RATE), and of the two equal steady phases. */
const COUNT = 240;
const STEADY = 300;
const REQUEST_TIMEOUT_MS = 3000;
const UP = new Set(['ready', 'busy']);

/** Prometheus labels of each series of `name` whose value is 1. */
function seriesAtOne(metrics: string, name: string): Record<string, string>[] {
  return [...metrics.matchAll(new RegExp(`^${name}\\{([^}]*)\\} 1$`, 'gm'))].map((m) => Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!])));
}

/** instance id -> the state whose parm_instance_state series is 1, and its parm_instance_backend_info URL. */
function instanceStates(metrics: string): Map<string, { state: string; backend: string }> {
  const backends = new Map(seriesAtOne(metrics, 'parm_instance_backend_info').map((l) => [l['instance']!, l['backend']!]));
  const out = new Map<string, { state: string; backend: string }>();
  for (const l of seriesAtOne(metrics, 'parm_instance_state')) out.set(l['instance']!, { state: l['state']!, backend: backends.get(l['instance']!) ?? '' });
  return out;
}

/** Sum of a metric's series. */
function total(metrics: string, name: string): number {
  let sum = 0;
  for (const m of metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

t.test('a frontend over six parm workers on namespace hosts, with faults between the hosts', { skip: skip ?? false }, async (t) => {
  t.comment(dist.entry === null ? `parm processes run from source: ${dist.why}` : `parm processes run ${dist.entry}`);
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const workDir = mkdtempSync(join(tmpdir(), 'parm-cluster-'));
  const cluster = NetnsCluster.create({ tag: 'ct', subnet: '10.231.1', hosts: ['fe', 'd0', 'd1', 'd2', 'd3', 'p0', 'p1', 'cl'] });
  const procs: ParmProcess[] = [];
  let agents: BulkAgents | null = null;
  t.teardown(async () => {
    agents?.close();
    await Promise.all(procs.map((p) => p.kill()));
    cluster.destroy();
    if (t.passing()) rmSync(workDir, { recursive: true, force: true });
    else t.comment(`logs kept in ${workDir}`);
  });
  const addr = (h: string) => cluster.host(h).address;
  const wrap = (h: string) => (cmd: string, args: string[]) => cluster.argv(h, cmd, args);
  const d = servedDeployment();
  const workerOf = (h: string) => {
    const parity = h.startsWith('p');
    return { model: parity ? d.parityModels![0]!.path! : d.deployedModel!, modelName: parity ? 'parity' : 'deployed', host: addr(h), port: PORT, workDir, name: h, wrap: wrap(h) };
  };
  const startWorker = async (h: string) => {
    const w = await spawnParmWorker({ ...workerOf(h), ...cli, readyTimeoutMs: 600_000 });
    procs.push(w);
    return w;
  };
  const endpoint = (h: string) => `http://${addr(h)}:${PORT}/v2/models/${h.startsWith('p') ? 'parity' : 'deployed'}`;
  // A fixed request timeout: the adaptive one (20 x the worst of the last 64 runs) grows to minutes
  // after a few slow answers (retransmissions under loss, a starved CPU on a busy machine), and the
  // partition and the stall would then take that long to detect.
  const backend = (h: string) => ({ url: endpoint(h), requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const deployedHosts = ['d0', 'd1', 'd2', 'd3'];
  const workers = new Map<string, ParmProcess>();
  await Promise.all([...deployedHosts, 'p0', 'p1'].map(async (h) => workers.set(h, await startWorker(h))));
  t.match(workers.get('d0')!.url, `http://${addr('d0')}:${PORT}`, 'a worker listens on its host address');

  const config: ServeConfigFile = {
    host: addr('fe'),
    port: PORT,
    limits: { maxInFlightPerConnection: 100_000 },
    deployments: [{ name: d.name, mode: 'parm', k: 2, deployedBackends: deployedHosts.map(backend), parityModels: [{ backends: ['p0', 'p1'].map(backend) }] }],
  };
  const configPath = join(workDir, 'fe.json');
  writeFileSync(configPath, JSON.stringify(config));
  const frontend = await spawnParm({ args: ['serve', '--config', configPath], workDir, name: 'fe', wrap: wrap('fe'), ...cli, execArgv: [...process.execArgv, `--import=${PROBE}`], readyTimeoutMs: 600_000 });
  procs.push(frontend);
  const downs: { instance: string; reason: string }[] = [];
  const memory: NodeJS.MemoryUsage[] = [];
  const memoryWaiters: ((m: NodeJS.MemoryUsage) => void)[] = [];
  frontend.onLine((line) => {
    if (line.startsWith(MEMORY_PROBE_PREFIX)) {
      const m = JSON.parse(line.slice(MEMORY_PROBE_PREFIX.length)) as NodeJS.MemoryUsage;
      memory.push(m);
      memoryWaiters.shift()?.(m);
    } else if (line.includes('"instance down, restarting"')) {
      const l = JSON.parse(line) as { instance: string; reason: string };
      downs.push({ instance: l.instance, reason: l.reason });
    }
  });
  const measureMemory = () =>
    new Promise<NodeJS.MemoryUsage>((resolve) => {
      memoryWaiters.push(resolve);
      frontend.child.kill('SIGUSR2');
    });

  // The client host: commands over IPC, answers matched by seq.
  const client = cluster.fork('cl', CLIENT, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.teardown(() => void client.kill('SIGKILL'));
  let seq = 0;
  const replies = new Map<number, (r: ClientReport) => void>();
  client.on('message', (r: ClientReport) => {
    replies.get(r.seq)?.(r);
    replies.delete(r.seq);
  });
  const ask = <R extends ClientReport['type']>(cmd: ClientRequest, want: R): Promise<Extract<ClientReport, { type: R }>> =>
    new Promise((resolve, reject) => {
      const s = ++seq;
      replies.set(s, (r) => (r.type === want ? resolve(r as Extract<ClientReport, { type: R }>) : reject(new Error(`client: ${r.type === 'failed' ? r.message : r.type}`))));
      client.send({ ...cmd, seq: s });
    });
  const metrics = async () => (await ask({ type: 'get', url: `http://${addr('fe')}:${PORT}/metrics` }, 'got')).text;
  const states = async () => instanceStates(await metrics());
  const until = async (what: string, ok: (s: Map<string, { state: string; backend: string }>) => boolean, timeoutMs = 120_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await states();
      if (ok(s)) return s;
      if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms (states: ${JSON.stringify(Object.fromEntries(s))})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const allUp = (s: Map<string, { state: string }>) => s.size === 6 && [...s.values()].every((x) => UP.has(x.state));
  const isDown = (id: string) => (s: Map<string, { state: string }>) => !UP.has(s.get(id)?.state ?? 'ready');
  const isUp = (id: string) => (s: Map<string, { state: string }>) => UP.has(s.get(id)?.state ?? 'down');

  await ask({ type: 'connect', url: `http://${addr('fe')}:${PORT}`, model: d.name }, 'connected');
  const ready = await until('every backend up after start', allUp);
  t.comment(`cluster up after ${elapsed()}`);
  t.same(
    Object.fromEntries([...ready].map(([id, s]) => [id, s.backend])),
    { 'deployed-0': endpoint('d0'), 'deployed-1': endpoint('d1'), 'deployed-2': endpoint('d2'), 'deployed-3': endpoint('d3'), 'parity-0': endpoint('p0'), 'parity-1': endpoint('p1') },
    '/metrics names each instance\'s backend URL (parm_instance_backend_info)',
  );

  // Answers to check originals against: the deployed model run directly.
  const imgs = images(64, 1234);
  const want = await direct(d.deployedModel!, imgs);
  let sent = 0;
  const phases = new Map<string, QueryOutcome[]>();
  const load = (phase: string, count: number) => {
    sent += count;
    return ask({ type: 'load', rate: RATE, count, images: imgs }, 'loaded').then((r) => {
      phases.set(phase, r.outcomes);
      return r.outcomes;
    });
  };
  const check = (phase: string, outcomes: QueryOutcome[]) => {
    t.ok(outcomes.every((o) => o.settled === 1), `${phase}: every query settled exactly once`);
    const failed = outcomes.filter((o) => !o.ok);
    t.equal(failed.length, 0, `${phase}: every query answered with a prediction${failed.length ? ` (first error: ${failed[0]!.error})` : ''}`);
    const wrong = outcomes.filter((o) => o.ok && !o.reconstructed && o.output!.some((v, j) => v !== want[o.image * 10 + j]));
    t.equal(wrong.length, 0, `${phase}: originals equal the deployed model run directly`);
    const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const reconstructed = outcomes.filter((o) => o.reconstructed).length;
    t.comment(`${phase}: ${outcomes.length} queries, latency p50 ${ms[ms.length >> 1]!.toFixed(1)} ms, max ${ms[ms.length - 1]!.toFixed(0)} ms, ${reconstructed} reconstructed`);
    return reconstructed;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  // Phase A: load on the healthy cluster; memory after it.
  check('steady (first)', await load('steady-a', STEADY));
  const memA = await measureMemory();

  t.comment(`at ${elapsed()}`);
  // SIGKILL of a deployed worker, then a restart on the same address.
  {
    const p = load('kill', COUNT);
    await sleep(500);
    await workers.get('d0')!.kill();
    const s = await until('the killed worker marked down', isDown('deployed-0'));
    t.pass(`deployed-0 is ${s.get('deployed-0')!.state} after SIGKILL`);
    check('SIGKILL', await p);
    workers.set('d0', await startWorker('d0'));
    await until('the restarted worker rejoins', isUp('deployed-0'));
    t.pass('deployed-0 rejoined after its worker restarted');
    t.ok(downs.some((x) => x.instance === 'deployed-0'), `the frontend logged deployed-0 down (${downs.find((x) => x.instance === 'deployed-0')?.reason})`);
  }

  t.comment(`at ${elapsed()}`);
  // Packet loss, 30 % each way between the frontend and d1: TCP retransmits, answers come late.
  {
    cluster.setFirewall('d1', { input: [`ip saddr ${addr('fe')} numgen random mod 100 < 30 drop`], output: [`ip daddr ${addr('fe')} numgen random mod 100 < 30 drop`] });
    const downsBefore = downs.length;
    const outcomes = await load('loss', COUNT);
    const r = check('30 % packet loss on d1', outcomes);
    cluster.clearFirewall('d1');
    t.ok(r > 0, `packet loss: ${r} answers reconstructed from parity`);
    // Loss is not a partition: d1 goes on answering, unless a retransmission outlasted the request
    // timeout (likelier on a busy machine), in which case it was marked down for that.
    const served = outcomes.filter((o) => o.instance === 'deployed-1' && !o.reconstructed).length;
    const lossDown = downs.slice(downsBefore).find((x) => x.instance === 'deployed-1');
    t.ok(served > 0 || lossDown !== undefined, `the lossy backend answered ${served} originals${lossDown ? `, and was marked down once (${lossDown.reason})` : ''}`);
    await until('every backend up after the loss', allUp);
  }

  t.comment(`at ${elapsed()}`);
  // A partition between the frontend and d2 (a host whose recent runs were all fast: after loss,
  // retransmitted runs stretch the adaptive request timeout of d1 to many seconds).
  {
    cluster.setFirewall('d2', { input: [`ip saddr ${addr('fe')} drop`], output: [`ip daddr ${addr('fe')} drop`] });
    const p = load('partition', COUNT);
    await until('the partitioned backend marked down', isDown('deployed-2'));
    t.pass('deployed-2 marked down behind the partition');
    const r = check('partition of d2', await p);
    t.ok(r > 0, `partition: ${r} answers reconstructed from parity`);
    t.ok(isDown('deployed-2')(await states()), 'still down while partitioned (its probes fail)');
    cluster.clearFirewall('d2');
    await until('the partitioned backend back after the partition heals', isUp('deployed-2'));
    t.pass('deployed-2 back once the partition healed');
    t.match(downs.find((x) => x.instance === 'deployed-2')?.reason ?? '', /no answer/, 'marked down for not answering (a request timed out, or its last requests went unanswered)');
  }

  t.comment(`at ${elapsed()}`);
  // d1's downlink limited to 20 Mbit/s (tbf, 100 ms queue) and filled by a bulk transfer from the client host.
  {
    cluster.limitDownlink('d1', { mbit: 20, latencyMs: 100, burstBytes: 16_000 });
    agents = await BulkAgents.start(cluster, ['cl', 'd1']);
    const transfer = agents.send('cl', 'd1', 3500);
    const p = load('saturated', COUNT);
    const sentBytes = await transfer;
    const received = await agents.received('d1');
    const r = check('saturated link into d1', await p);
    cluster.limitDownlink('d1', null);
    const mbit = (received * 8) / (sentBytes.ms * 1000);
    t.ok(mbit > 10 && mbit < 22, `the bulk transfer ran at ${mbit.toFixed(1)} Mbit/s through the 20 Mbit/s link`);
    t.ok(r > 0, `saturated link: ${r} answers reconstructed from parity`);
    await until('every backend up after the saturation', allUp);
  }

  t.comment(`at ${elapsed()}`);
  // One established connection, frontend -> d3, stalled: its packets dropped both ways. The
  // request caught on it is answered from parity and abandoned, which closes that connection; the
  // frontend goes on over a new one (or, if no reconstruction comes first, times the request out).
  {
    const flowsToD3 = () =>
      cluster
        .exec('d3', 'ss', ['-Htn', 'state', 'established', `( sport = :${PORT} )`])
        .split('\n')
        .map((l) => new RegExp(`${addr('fe').replace(/\./g, '\\.')}:(\\d+)\\s*$`).exec(l.trim())?.[1])
        .filter((x): x is string => x !== undefined);
    const stalled = flowsToD3();
    t.ok(stalled.length >= 1, `the frontend holds a keep-alive connection to d3 (ports ${stalled.join(', ')})`);
    cluster.setFirewall('d3', {
      input: stalled.map((port) => `ip saddr ${addr('fe')} tcp sport ${port} drop`),
      output: stalled.map((port) => `ip daddr ${addr('fe')} tcp dport ${port} drop`),
    });
    const outcomes = await load('stall', COUNT);
    const r = check('stalled connection to d3', outcomes);
    t.ok(r > 0, `stalled connection: ${r} answers reconstructed from parity`);
    const fresh = flowsToD3().filter((p) => !stalled.includes(p));
    t.ok(fresh.length >= 1, `the frontend reconnected to d3 (port ${fresh.join(', ')}) while the stalled flow stays blocked`);
    const served = outcomes.filter((o) => o.instance === 'deployed-3' && !o.reconstructed).length;
    t.ok(served > 0, `d3 went on answering originals after the stall (${served})`);
    cluster.clearFirewall('d3');
    await until('every backend up after the stall', allUp);
  }

  // A frozen worker (SIGSTOP): its kernel still accepts connections, nothing answers.
  {
    const frozen = workers.get('d3')!;
    const p = load('frozen', COUNT);
    await sleep(500);
    frozen.child.kill('SIGSTOP');
    await until('the frozen worker marked down', isDown('deployed-3'));
    const r = check('frozen worker on d3', await p);
    t.ok(r > 0, `frozen worker: ${r} answers reconstructed from parity`);
    t.match(downs.filter((x) => x.instance === 'deployed-3').pop()?.reason ?? '', /no answer/, 'marked down for not answering');
    frozen.child.kill('SIGCONT');
    await until('the thawed worker back', isUp('deployed-3'));
    t.pass('deployed-3 back after SIGCONT');
  }

  t.comment(`at ${elapsed()}`);
  // Phase B, equal to A: memory after it.
  await until('every backend up before the last phase', allUp);
  check('steady (last)', await load('steady-b', STEADY));
  const memB = await measureMemory();
  const mib = (x: number) => x / 2 ** 20;
  t.comment(`frontend heap used ${mib(memA.heapUsed).toFixed(1)} -> ${mib(memB.heapUsed).toFixed(1)} MiB, external ${mib(memA.external).toFixed(1)} -> ${mib(memB.external).toFixed(1)} MiB, rss ${mib(memA.rss).toFixed(0)} -> ${mib(memB.rss).toFixed(0)} MiB`);
  t.ok(mib(memB.heapUsed - memA.heapUsed) < 4, `frontend heap after a full GC grew ${mib(memB.heapUsed - memA.heapUsed).toFixed(2)} MiB over ${sent - STEADY} queries and six faults (< 4 MiB)`);
  t.ok(mib(memB.external - memA.external) < 2, `frontend external memory grew ${mib(memB.external - memA.external).toFixed(2)} MiB (< 2 MiB)`);

  // Exactly once, counted by the server: each request answered once, each query settled once.
  const m = await metrics();
  t.equal(total(m, 'parm_requests_total'), sent, `the front answered ${sent} requests, one per query sent`);
  t.equal(total(m, 'parm_engine_queries_total'), sent, 'the engine accepted each query once');
  t.equal(total(m, 'parm_engine_answered_total') + total(m, 'parm_engine_errors_total'), sent, 'and settled each once');
  const flagged = [...phases.values()].flat().filter((o) => o.reconstructed).length;
  t.equal(total(m, 'parm_engine_reconstructions_total'), flagged, `the ${flagged} answers flagged reconstructed are the engine's reconstructions`);
});

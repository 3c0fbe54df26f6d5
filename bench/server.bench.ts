// Network front benchmark (`npm run bench:server`): open-loop load at a fixed offered rate against
// the parm server (mode parm and mode none) and a bare uWebSockets.js app answering the same
// routes with payloads of the same sizes, for WebSocket and HTTP, binary and JSON. Latency runs
// from each request's scheduled send time (no coordinated omission). Each system runs in its own
// server process; this process only generates load.
// Options: --rate=N (requests/s, default 500) --seconds=S (per scenario, default 4)
//          --connections=C (default 8) --warmup=S (default 1) --trials=T (default 3; every trial starts
//          fresh server processes, systems in rotated order) --json (one JSON object on stdout)
// Reported per cell: the median over trials of each percentile, with [min, max] across trials.
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { measureSizes, runScenario as runOpenLoop, startChild as startServerChild, stopChild, type Format, type ScenarioResult, type Transport } from './server-load.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const RATE = Number(args.get('rate') ?? 500);
const SECONDS = Number(args.get('seconds') ?? 4);
const WARMUP = Number(args.get('warmup') ?? 1);
const CONNECTIONS = Number(args.get('connections') ?? 8);
const TRIALS = Number(args.get('trials') ?? 3);
const JSON_OUT = args.has('json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

type System = 'parm' | 'none' | 'echo';
type Result = ScenarioResult & { system: System };

const require = createRequire(import.meta.url);
const startChild = (system: System, sizes?: Record<string, number>) =>
  startServerChild([`--system=${system}`, ...(sizes ? [`--sizes=${JSON.stringify(sizes)}`] : [])]);
const runScenario = async (system: System, port: number, model: string, transport: Transport, format: Format): Promise<Result> =>
  ({ ...(await runOpenLoop(system, port, model, transport, format, { rate: RATE, seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, echo: system === 'echo' })), system });

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavg: loadavg(),
    node: process.version,
    uws: (require('uWebSockets.js/package.json') as { version: string }).version,
    onnxruntime_node: (require('onnxruntime-node/package.json') as { version: string }).version,
  };
  log(`CPU: ${machine.cpu} (${machine.cores} cores, load ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}); Node ${machine.node}; uWS ${machine.uws}`);
  log(`open loop: ${RATE} req/s offered, ${SECONDS} s measured after ${WARMUP} s warm-up, ${CONNECTIONS} connections`);
  const results: Result[] = [];
  const scenarios: Array<[Transport, Format]> = [
    ['ws', 'binary'],
    ['ws', 'json'],
    ['http', 'binary'],
    ['http', 'json'],
  ];
  // parm first in trial 1: its answer sizes set the echo's payload sizes.
  const { child: c0, port: p0, model: m0 } = await startChild('parm');
  const sizes = await measureSizes(p0, m0);
  await stopChild(c0);
  log(`answer sizes (bytes): ${JSON.stringify(sizes)}`);
  const order: System[] = ['parm', 'none', 'echo'];
  for (let trial = 0; trial < TRIALS; trial++) {
    const systems = order.map((_, k) => order[(k + trial) % order.length]!);
    for (const system of systems) {
      const { child, port, model } = await startChild(system, system === 'echo' ? sizes : undefined);
      try {
        for (const [transport, format] of scenarios) {
          const r = await runScenario(system, port, model, transport, format);
          results.push(r);
          log(
            `trial ${trial + 1} ${system.padEnd(5)} ${transport.padEnd(4)} ${format.padEnd(6)} ${r.achieved.toFixed(0).padStart(6)} req/s  ` +
              `p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  p99.9 ${r.p999.toFixed(3)} ms  max ${r.max.toFixed(1)} ms  ` +
              `errors ${r.errors}  reconstructed ${r.reconstructed}`,
          );
        }
      } finally {
        await stopChild(child);
      }
    }
  }
  const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
  };
  type Cell = { system: System; transport: Transport; format: Format; achieved: number; errors: number; reconstructed: number } & Record<
    'p50' | 'p99' | 'p999',
    { median: number; min: number; max: number }
  >;
  const cells: Cell[] = [];
  for (const system of order) {
    for (const [transport, format] of scenarios) {
      const rs = results.filter((r) => r.system === system && r.transport === transport && r.format === format);
      const stat = (k: 'p50' | 'p99' | 'p999') => ({ median: median(rs.map((r) => r[k])), min: Math.min(...rs.map((r) => r[k])), max: Math.max(...rs.map((r) => r[k])) });
      cells.push({
        system,
        transport,
        format,
        achieved: median(rs.map((r) => r.achieved)),
        errors: rs.reduce((a, r) => a + r.errors, 0),
        reconstructed: rs.reduce((a, r) => a + r.reconstructed, 0),
        p50: stat('p50'),
        p99: stat('p99'),
        p999: stat('p999'),
      });
    }
  }
  log(`\nmedian over ${TRIALS} trials [min, max], ms:`);
  log('system transport format   req/s   p50                      p99                      p99.9');
  const fmt = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(3)} [${x.min.toFixed(2)}, ${x.max.toFixed(2)}]`.padEnd(25);
  for (const c of cells) {
    log(`${c.system.padEnd(6)} ${c.transport.padEnd(9)} ${c.format.padEnd(7)} ${c.achieved.toFixed(0).padStart(6)}   ${fmt(c.p50)}${fmt(c.p99)}${fmt(c.p999)}`);
  }
  const find = (s: System, t: Transport, f: Format) => cells.find((r) => r.system === s && r.transport === t && r.format === f)!;
  const ratio = (a: Cell, b: Cell) => ({ p50: a.p50.median / b.p50.median, p99: a.p99.median / b.p99.median, p999: a.p999.median / b.p999.median });
  const ratios = scenarios.map(([t, f]) => ({
    transport: t,
    format: f,
    parm_over_echo: ratio(find('parm', t, f), find('echo', t, f)),
    parm_over_none: ratio(find('parm', t, f), find('none', t, f)),
    none_over_echo: ratio(find('none', t, f), find('echo', t, f)),
  }));
  log('ratios of medians (latency, >1 = slower):');
  for (const r of ratios) {
    const f = (x: { p50: number; p99: number; p999: number }) => `p50 ${x.p50.toFixed(2)} p99 ${x.p99.toFixed(2)} p99.9 ${x.p999.toFixed(2)}`;
    log(`  ${r.transport.padEnd(4)} ${r.format.padEnd(6)} parm/echo ${f(r.parm_over_echo)} | parm/none ${f(r.parm_over_none)} | none/echo ${f(r.none_over_echo)}`);
  }
  if (JSON_OUT) process.stdout.write(JSON.stringify({ machine, config: { rate: RATE, seconds: SECONDS, warmup: WARMUP, connections: CONNECTIONS, trials: TRIALS }, sizes, cells, ratios, results }, null, 1) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`server.bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

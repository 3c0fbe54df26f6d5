// Simulator speed (`npm run bench:simulate`, JSON on stdout): one simulated run per mode of a
// fleet (default one million queries over 1,000 deployed instances with the moving disturbance of
// docs/simulate.md), its wall time and its CPU time (process.cpuUsage; the machine may be shared,
// so CPU time is the figure to compare with the goal of under a minute on one core). `--cores=N`
// shares N cores among all instances (processor sharing; default unlimited, a core per instance).
import { cpus, loadavg } from 'node:os';
import { parseSimModes } from '../src/sim/plan.js';
import { lognormal } from '../src/sim/service-times.js';
import { labelOf, simulate } from '../src/sim/simulate.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const QUERIES = Number(args.get('queries') ?? 1_000_000);
const INSTANCES = Number(args.get('instances') ?? 1000);
const LOAD = Number(args.get('load') ?? 0.1);
const MODES = parseSimModes(args.get('modes') ?? 'parm:2');
const CORES = args.has('cores') ? Number(args.get('cores')) : null;
const GOAL_S = 60;

const service = lognormal(0.4, 0.3);
const rate = (LOAD * INSTANCES * 1000) / service.meanMs;
const runs = [];
for (const m of MODES) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await simulate({
    ...m,
    instances: INSTANCES,
    rate,
    queries: QUERIES,
    service: { deployed: service, parity: service },
    stragglers: { moving: { fraction: 0.17, periodMs: 200, duty: 0.25, delayMs: 50 } },
    seed: 1,
    ...(CORES !== null ? { cpu: { cores: CORES, parityNice: 10 } } : {}),
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  runs.push({
    mode: labelOf(m),
    instances: res.instances,
    cores: CORES ?? 'unlimited',
    cores_busy: res.cores_busy,
    queries: QUERIES,
    rate: Math.round(rate),
    simulated_s: res.simulated_s,
    wall_s: Number(wall.toFixed(2)),
    cpu_s: Number(cpuS.toFixed(2)),
    cpu_user_s: Number((cpu.user / 1e6).toFixed(2)),
    queries_per_cpu_s: Math.round(QUERIES / cpuS),
    within_goal: cpuS < GOAL_S,
    p50: res.p50,
    p999: res.p999,
    errors: res.errors,
  });
  process.stderr.write(`${labelOf(m)}: ${QUERIES} queries, wall ${wall.toFixed(1)} s, CPU ${cpuS.toFixed(1)} s\n`);
}
process.stdout.write(
  `${JSON.stringify({ goal: `${QUERIES} queries over ${INSTANCES} instances in under ${GOAL_S} s of one core`, machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, loadavg: loadavg() }, runs }, null, 2)}\n`,
);

// `parm simulate`: the paper's experiment at fleet scale, as a discrete-event simulation of the
// real engine (docs/simulate.md), and `--validate`, which checks it against a real run here.
import { existsSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parseDecodePolicy } from '../engine/decode-policy.js';
import type { BackgroundLoadSpec, DecodePolicy } from '../engine/types.js';
import { usage } from './usage.js';
import { parseSimModes, rateFor, runPlan, type SimPlan } from '../sim/plan.js';
import { buildSimReport, formatSimTable, writeSimReport } from '../sim/report.js';
import { empirical, fixed, parseServiceTime, readServiceTimeFile, type ServiceTime } from '../sim/service-times.js';
import type { SharedCpu, Stragglers } from '../sim/simulate.js';
import type { FrontendModel } from '../sim/validate-record.js';
import { DEFAULTS } from '../engine/options.js';

interface SimulateFlags {
  modes: string;
  instances: string;
  load?: string;
  rate?: string;
  queries: number;
  service: string;
  parityService?: string;
  frontend?: string;
  trace?: string;
  background: 'delay' | 'none';
  backgroundPeriod: number;
  backgroundDuty: number;
  backgroundIntensity: number;
  backgroundWidth: number;
  backgroundTargets: 'all' | 'deployed';
  moving?: string;
  slow?: string;
  failures?: string;
  racks?: string;
  seed: number;
  decode?: DecodePolicy;
  groupWait?: number;
  hedgeDelay?: number;
  leastRecent?: boolean;
  out: string;
  charts: boolean;
  /** commander's --no-idle-classes: false when given. */
  idleClasses: boolean;
  json: boolean;
  validate: boolean;
  validateFrom?: string;
  validateRates: string;
  validateSeconds: number;
  validateTrials?: number;
  /** Infinity: unlimited. */
  cores?: number;
  parityNice?: number;
  cpuPerQuery?: number | 'frontend';
  runCpu?: number;
  fitRounds?: number;
  replications?: number;
  validateFrontend?: FrontendModel;
  runTimes?: 'measured' | 'process' | 'sent';
  mainThread?: number | 'measured';
}

const num = (name: string, min: number, max = Infinity, integer = false) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) usage(`${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
  return n;
};

function list(name: string, text: string, min: number, max = Infinity): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || !values.every((x) => Number.isFinite(x) && x >= min && x <= max)) usage(`${name} must be a comma-separated list of numbers in [${min}, ${max}], got '${text}'`);
  return values;
}

/** `a:b:c` of exactly `count` numbers. */
function tuple(name: string, text: string, count: number, form: string): number[] {
  const parts = text.split(':').map(Number);
  if (parts.length !== count || !parts.every((x) => Number.isFinite(x) && x >= 0)) usage(`${name} must be ${form}, got '${text}'`);
  return parts;
}

/** A spec (`lognormal:0.4,0.3`) or a service-time file (JSON, as `parm bench tail` writes it); `role` picks its table. */
function serviceTime(text: string, role: 'deployed' | 'parity' | 'frontend', idleClasses: boolean): ServiceTime {
  if (existsSync(text)) {
    const file = readServiceTimeFile(text);
    const table = file[role] ?? file.deployed;
    return empirical(table, `${text} (${file[role] ? role : 'deployed'})`, { idleClasses });
  }
  return parseServiceTime(text);
}

/** `--cores`: a number of cores, or `unlimited` (Infinity: a core per instance; commander turns a parsed null into ''). */
function cores(v: string): number {
  if (v === 'unlimited') return Infinity;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) usage(`--cores must be a number > 0 or 'unlimited', got '${v}'`);
  return n;
}

function cpuPerQuery(v: string): number | 'frontend' {
  if (v === 'frontend') return v;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) usage(`--cpu-per-query must be a number of ms >= 0 or 'frontend', got '${v}'`);
  return n;
}

function mainThreadMs(v: string): number | 'measured' {
  if (v === 'measured') return v;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) usage(`--main-thread must be a number of ms >= 0 or 'measured', got '${v}'`);
  return n;
}

function sharedCpu(f: SimulateFlags): SharedCpu | undefined {
  if (f.cpuPerQuery === 'frontend') usage("--cpu-per-query frontend: only with --validate or --validate-from (a record's frontend time)");
  if (f.fitRounds !== undefined) usage('--fit-rounds: only with --validate or --validate-from (it fits measured run times)');
  if (f.replications !== undefined) usage('--replications: only with --validate or --validate-from (a study is deterministic: vary --seed)');
  if (f.validateFrontend !== undefined) usage('--validate-frontend: only with --validate or --validate-from (a study takes --frontend)');
  if (f.runTimes !== undefined) usage('--run-times: only with --validate or --validate-from (a study takes --service)');
  if (f.mainThread !== undefined) usage('--main-thread: only with --validate or --validate-from');
  if (f.validateTrials !== undefined) usage('--validate-trials: only with --validate');
  if (f.cores === undefined || f.cores === Infinity) {
    if (f.parityNice !== undefined || f.cpuPerQuery !== undefined || f.runCpu !== undefined) usage('--parity-nice, --run-cpu and --cpu-per-query need --cores');
    return undefined;
  }
  const perQuery = f.cpuPerQuery ?? 0;
  return { cores: f.cores, parityNice: f.parityNice ?? DEFAULTS.parityNice, runCpuFraction: f.runCpu ?? 1, ...(perQuery > 0 ? { perQuery: fixed(perQuery) } : {}) };
}

function planFrom(f: SimulateFlags): SimPlan {
  if (f.load !== undefined && f.rate !== undefined) usage('give --load (utilisation) or --rate (queries/s), not both');
  const cpu = sharedCpu(f);
  const stragglers: Stragglers = {};
  if (f.background === 'delay') {
    const bg: BackgroundLoadSpec = { seed: f.seed, kind: 'delay', width: f.backgroundWidth as 1 | 2, periodMs: f.backgroundPeriod, duty: f.backgroundDuty, intensity: f.backgroundIntensity, targets: f.backgroundTargets };
    stragglers.background = bg;
  }
  if (f.moving) {
    const [fraction, periodMs, duty, delayMs] = tuple('--moving', f.moving, 4, '<fraction>:<period-ms>:<duty>:<delay-ms>');
    if (fraction! > 1 || duty! > 1) usage('--moving: fraction and duty are in [0, 1]');
    stragglers.moving = { fraction: fraction!, periodMs: periodMs!, duty: duty!, delayMs: delayMs! };
  }
  if (f.slow) {
    const [fraction, factor] = tuple('--slow', f.slow, 2, '<fraction>:<factor>');
    stragglers.slow = { fraction: fraction!, factor: factor! };
  }
  if (f.failures) {
    const [mtbfMs, restartMs] = tuple('--failures', f.failures, 2, '<mtbf-ms>:<restart-ms>');
    if (!(mtbfMs! > 0)) usage('--failures: the mean time between failures must be > 0');
    stragglers.failures = { mtbfMs: mtbfMs!, restartMs: restartMs! };
  }
  if (f.racks) {
    const [size, count, periodMs, duty, delayMs] = tuple('--racks', f.racks, 5, '<size>:<count>:<period-ms>:<duty>:<delay-ms>');
    if (!(size! >= 1) || duty! > 1) usage('--racks: size >= 1, duty in [0, 1]');
    stragglers.racks = { size: size!, count: count!, periodMs: periodMs!, duty: duty!, delayMs: delayMs! };
  }
  let arrivals: Float64Array | undefined;
  if (f.trace) {
    let raw: unknown;
    try {
      const text = readFileSync(f.trace, 'utf8').trim();
      raw = text.startsWith('[') ? JSON.parse(text) : text.split(/\s+/).map(Number);
    } catch (e) {
      usage(`--trace ${f.trace}: ${(e as Error).message}`);
    }
    if (!Array.isArray(raw) || raw.length === 0 || !raw.every((x, i) => typeof x === 'number' && x >= 0 && (i === 0 || x >= raw[i - 1]))) {
      usage(`--trace ${f.trace}: expected non-decreasing arrival offsets in ms (a JSON array, or one number per line)`);
    }
    arrivals = Float64Array.from(raw as number[]);
  }
  const deployed = serviceTime(f.service, 'deployed', f.idleClasses);
  return {
    modes: parseSimModes(f.modes),
    instances: list('--instances', f.instances, 1, 65_536).map(Math.round),
    loads: f.rate !== undefined ? { kind: 'rate', values: list('--rate', f.rate, 0.001) } : { kind: 'utilisation', values: list('--load', f.load ?? '0.5', 0.001, 0.999) },
    queries: arrivals ? arrivals.length : f.queries,
    seed: f.seed,
    service: { deployed, parity: f.parityService ? serviceTime(f.parityService, 'parity', f.idleClasses) : existsSync(f.service) ? serviceTime(f.service, 'parity', f.idleClasses) : deployed },
    ...(f.frontend ? { frontend: serviceTime(f.frontend, 'frontend', false) } : {}),
    ...(cpu ? { cpu } : {}),
    stragglers,
    ...(arrivals ? { arrivals } : {}),
    ...(f.decode ? { decode: f.decode } : {}),
    ...(f.groupWait !== undefined ? { groupWaitMs: f.groupWait } : {}),
    ...(f.hedgeDelay !== undefined ? { hedgeDelayMs: f.hedgeDelay } : {}),
    ...(f.leastRecent ? { warmFirst: false } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description(
      'Discrete-event simulation of the serving engine at fleet scale: the real engine code (queues, coding groups, decoding, ' +
        'partial groups, hedging, retries) on a simulated clock with simulated instances (docs/simulate.md). --validate runs a short ' +
        'real benchmark here and the simulation with the service times it measured, side by side.',
    )
    .option('--modes <list>', 'modes: none, equal-resources, hedged, parm:K[:rR]', 'none,equal-resources,hedged,parm:2')
    .option('--instances <list>', 'deployed instances m of each fleet (parm adds r x ceil(m/k) parity instances, the baselines as many replicas)', '1000')
    .option('--load <list>', 'offered load as the utilisation of the m deployed instances, e.g. 0.3,0.5,0.7 (default 0.5)')
    .option('--rate <list>', 'offered load in queries/s (instead of --load)')
    .option('--queries <n>', 'queries per run (Poisson arrivals); the first 5 % are not measured', num('--queries', 100, 1e8, true), 200_000)
    .option('--service <spec|file>', 'deployed service time: fixed:MS, exp:MEAN, lognormal:MEDIAN,SIGMA, or a service-time JSON file', 'lognormal:0.4,0.3')
    .option('--parity-service <spec|file>', 'parity service time (default: --service)')
    .option('--frontend <spec|file>', 'time a query spends outside the engine (transport, parsing), added to each answer (default none)')
    .option('--trace <file>', 'arrival offsets in ms (a JSON array or one per line) instead of Poisson arrivals')
    .addOption(new Option('--background <kind>', "the tail benchmark's seeded background schedule (one or two instances at a time)").choices(['delay', 'none']).default('delay'))
    .option('--background-period <ms>', 'background period', num('--background-period', 1), 200)
    .option('--background-duty <f>', 'fraction of each period disturbed', num('--background-duty', 0, 1), 0.25)
    .option('--background-intensity <ms>', 'delay added to runs started while disturbed', num('--background-intensity', 0), 50)
    .option('--background-width <n>', '1 or 2 instances at a time', num('--background-width', 1, 2, true), 1)
    .addOption(new Option('--background-targets <t>', 'instances the background picks from').choices(['all', 'deployed']).default('all'))
    .option('--moving <f:period:duty:ms>', 'at fleet scale: every period a random fraction f of the instances is slowed by ms for duty of it')
    .option('--slow <f:factor>', 'a seeded fraction f of the instances runs factor times slower, always')
    .option('--failures <mtbf:restart>', 'each instance fails with this mean time between failures (ms) and is back restart ms later')
    .option('--racks <size:count:period:duty:ms>', 'correlated slowdowns: count random racks of size instances slowed together each period')
    .option('--seed <n>', 'seed of arrivals, service times and stragglers (the same in every mode)', num('--seed', 0, 2 ** 31 - 1, true), 1)
    .option('--decode <policy>', "'first' or 'deadline:<ms>'", (v: string) => parseDecodePolicy(v))
    .option('--group-wait <ms>', 'coding window wait (engine groupWaitMs, default 5)', num('--group-wait', 0))
    .option('--hedge-delay <ms>', 'hedged mode re-issue delay (default 10)', num('--hedge-delay', 0))
    .option('--least-recent', "the engine's warmFirst false: the free instance idle longest takes the next task (with a named service distribution the simulated instances are as fast after idleness as before, so warm first only changes which of them a disturbance catches)")
    .option('--out <dir>', 'where the JSON, table and charts go', 'bench-results/simulate')
    .option('--no-charts', 'skip the SVG/PNG charts')
    .option('--json', 'print the JSON report on stdout instead of the table', false)
    .option('--validate', 'run a short real tail benchmark here and the simulation calibrated on it; print the error per percentile', false)
    .option('--validate-from <dir>', 'simulate again the real runs recorded in DIR/validate.json (as --validate writes it), without running them')
    .option('--cores <n>', "cores the instances share (processor sharing); default unlimited (a core per instance), with --validate this machine's, with --validate-from the record's", cores)
    .option('--parity-nice <n>', `with --cores: parity instances' nice value above deployed ones, as CFS weights (default the engine's parityNice, ${DEFAULTS.parityNice})`, num('--parity-nice', 0, 19, true))
    .option('--run-cpu <f>', 'with --cores: the part of a service time that needs a core, the rest waits without one (default 1; --validate 0.6)', num('--run-cpu', 0, 1))
    .option('--cpu-per-query <ms>', "with --cores: CPU each query needs outside the instances (frontend, load generator) on the same cores; 'frontend': a validate run's frontend time (default 0)", cpuPerQuery)
    .option('--fit-rounds <n>', 'with --validate(-from) and shared cores: rounds fitting the work per run to the measured run times (default 0)', num('--fit-rounds', 0, 20, true))
    .option('--replications <n>', 'with --validate(-from): simulations of each real run (other arrivals and service draws, the same background schedule); their median percentiles are compared, and their range printed (default 1)', num('--replications', 1, 100, true))
    .addOption(
      new Option('--validate-frontend <how>', "with --validate(-from): the time outside the engine added to each answer: 'measured' draws it from the run's per-answer table (latency minus the engine's parm_latency_ms) by the class of the answer's engine latency, 'ranks' by the class of that latency's rank among the run's answers, 'whole' from that table without its classes, 'median' adds the run's median to every answer (default ranks where every run has the rank classes, else whole; records without the table use the median)").choices([
        'measured',
        'ranks',
        'whole',
        'median',
      ]),
    )
    .addOption(
      new Option('--run-times <window>', "with --validate(-from): the run-time tables to simulate with: 'measured', over the measured window (the run-time histogram scraped before it and at the stop), or 'process', the server's whole life, warm-up included, or 'sent', over the measured window until each instance sent its result (without the result's wait for the main thread, which --main-thread models; records from before parm_engine_run_sent_ms lack it) (default measured; records without the histogram have only process)").choices(['measured', 'process', 'sent']),
    )
    .option(
      '--main-thread <ms>',
      "with --validate(-from): the server's main thread as one queue on the shared cores, taking this CPU per query (half at its arrival, half at each instance result), or 'measured': each run's own (real.main_thread_cpu_ms_per_query); arrivals, results and the engine's timers wait for it in turn (default 0: every event handled at once)",
      mainThreadMs,
    )
    .option('--no-idle-classes', "draw every run from a measured table's whole distribution, not from its idle class's (by_idle: how long the instance had been idle before the run)")
    .option('--validate-rates <list>', 'offered loads (q/s) of --validate', '200,400,800')
    .option('--validate-seconds <s>', 'measured seconds per mode and load of --validate', num('--validate-seconds', 2), 10)
    .option(
      '--validate-trials <n>',
      'real trials per mode and load of --validate (trial t with seed + t); with more than one, the medians over the trials are compared as well',
      num('--validate-trials', 1, 20, true),
    )
    .action(async (flags: SimulateFlags) => {
      if (flags.validate || flags.validateFrom !== undefined) {
        if (flags.validate && flags.validateFrom !== undefined) usage('give --validate or --validate-from, not both');
        const model = {
          ...(flags.cores !== undefined ? { cores: flags.cores === Infinity ? null : flags.cores } : {}),
          ...(flags.parityNice !== undefined ? { parityNice: flags.parityNice } : {}),
          ...(flags.cpuPerQuery !== undefined ? { cpuPerQuery: flags.cpuPerQuery } : {}),
          ...(flags.fitRounds !== undefined ? { fitRounds: flags.fitRounds } : {}),
          ...(flags.runCpu !== undefined ? { runCpuFraction: flags.runCpu } : {}),
          idleClasses: flags.idleClasses,
          ...(flags.replications !== undefined ? { replications: flags.replications } : {}),
          ...(flags.validateFrontend !== undefined ? { frontend: flags.validateFrontend } : {}),
          ...(flags.runTimes !== undefined ? { runTimes: flags.runTimes } : {}),
          ...(flags.mainThread !== undefined ? { mainThreadMs: flags.mainThread } : {}),
        };
        const { runValidation, revalidate } = await import('../sim/validate.js');
        if (flags.validateFrom !== undefined && flags.validateTrials !== undefined) usage("--validate-trials: only with --validate (--validate-from simulates the record's own trials)");
        if (flags.validateFrom !== undefined) await revalidate({ from: flags.validateFrom, out: flags.out, json: flags.json, model });
        else await runValidation({ rates: list('--validate-rates', flags.validateRates, 1), seconds: flags.validateSeconds, trials: flags.validateTrials, seed: flags.seed, out: flags.out, json: flags.json, model });
        return;
      }
      const plan = planFrom(flags);
      if (plan.cpu) {
        const c = plan.cpu;
        for (const m of plan.instances) {
          for (const load of plan.loads.values) {
            const rate = rateFor(plan, m, load);
            // Deployed work alone; parity and extra replicas only add to it.
            const cores = (rate * (plan.service.deployed.meanMs * (c.runCpuFraction ?? 1) + (c.perQuery?.meanMs ?? 0))) / 1000;
            if (cores > c.cores) process.stderr.write(`parm simulate: m=${m} load ${load}: the queries need ${cores.toFixed(1)} cores of work, more than --cores ${c.cores}: the simulated queues grow without bound\n`);
          }
        }
      }
      const results = await runPlan(plan, (r, i, total) => {
        process.stderr.write(`parm simulate: [${i}/${total}] m=${r.m} load ${r.load} ${r.label}: p50 ${r.p50.toFixed(3)} p99.9 ${r.p999.toFixed(2)} ms (${r.wall_s.toFixed(1)} s)\n`);
      });
      const report = buildSimReport(plan, results);
      const written = await writeSimReport(report, flags.out, flags.charts);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatSimTable(report)}\nwrote ${written.join(', ')}\n`);
    });
}

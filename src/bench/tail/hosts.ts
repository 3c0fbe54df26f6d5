// `parm bench tail --topology hosts`: the benchmark across hosts on one machine. Every instance is a
// `parm worker` on its own network-namespace host, the frontend a `parm serve --config` (remote
// deployedBackends / parityModels backends) on another, the load generator on a third; every
// host's downlink is rate-limited (tbf), and the background is the paper's: bulk transfers between
// random pairs of instance hosts on a seeded schedule, the same in every mode of a trial.
import type { ChildProcess, ForkOptions } from 'node:child_process';
import { bundledManifestPath, deploymentFromManifest } from '../../engine/manifest.js';
import type { EngineOptions, ParityModelSpec } from '../../engine/types.js';
import { ParmError } from '../../errors.js';
import type { ServeConfigFile } from '../../server/config.js';
import { NetnsCluster, netnsUnavailable } from './netns.js';
import type { TailBenchOptions, TransferOptions } from './options.js';
import type { TrialRecord } from './stats.js';
import { instancesFor, type RunSpec, type Target } from './run.js';
import { spawnParmServe, spawnParmWorker, type ParmProcess } from './serve-process.js';
import { BulkAgents, transferPlan, type PlannedTransfer, type TransferResult } from './transfers.js';

/** The port each worker listens on (every host has its own port space). */
const WORKER_PORT = 8000;
/** First three octets of the benchmark's /24 (the cluster test uses 10.231.1). */
const SUBNET = '10.231.2';
const FRONTEND = 'fe';
const LOADGEN = 'lg';

/** The transfer schedule of trial seed s is seeded with s + TRANSFER_SEED_OFFSET (the engine's delay background uses s). */
export const TRANSFER_SEED_OFFSET = 1_000_003;

/** What the report records about the topology. */
export interface TopologyRecord {
  kind: 'hosts';
  subnet: string;
  hosts: { name: string; address: string; role: string }[];
  /** The tbf limit on every host's downlink. */
  link: { mbit: number; latency_ms: number; burst_bytes: number };
  transfers: {
    period_ms: number;
    duration_ms: number;
    /** Hosts the pairs are drawn from (sender, receiver), in schedule order. */
    between: string[];
    seed_offset: number;
    /** Per trial: [start ms, from, to] of every transfer of a run (the same in every mode). */
    schedule: Record<string, [number, string, string][]>;
  } | null;
}

const workerHost = (i: number) => `w${i}`;

/** Which workers a mode's run starts: deployed instances on w0.., then parity instances after them. */
export function hostsOf(run: Pick<RunSpec, 'instances'>): { deployed: string[]; parity: string[] } {
  const { deployed, parity } = run.instances;
  return {
    deployed: Array.from({ length: deployed }, (_, i) => workerHost(i)),
    parity: Array.from({ length: parity }, (_, j) => workerHost(deployed + j)),
  };
}

export class HostsTopology {
  private readonly transfers: TransferOptions | null;
  readonly record: TopologyRecord;
  private readonly instanceHosts: string[];

  private constructor(
    private readonly cluster: NetnsCluster,
    private readonly agents: BulkAgents | null,
    opts: TailBenchOptions,
    instanceHosts: string[],
  ) {
    this.transfers = opts.transfers;
    this.instanceHosts = instanceHosts;
    const roles = new Map<string, string>([
      [FRONTEND, 'frontend (parm serve)'],
      [LOADGEN, 'load generator'],
    ]);
    this.record = {
      kind: 'hosts',
      subnet: cluster.describe().subnet,
      hosts: cluster.describe().hosts.map((h) => ({ ...h, role: roles.get(h.name) ?? 'instance (parm worker)' })),
      link: { mbit: opts.link.mbit, latency_ms: opts.link.latencyMs, burst_bytes: opts.link.burstBytes },
      transfers: opts.transfers && { period_ms: opts.transfers.periodMs, duration_ms: opts.transfers.durationMs, between: instanceHosts, seed_offset: TRANSFER_SEED_OFFSET, schedule: {} },
    };
  }

  /**
   * Builds the hosts: a frontend, a load generator and one host per instance of the largest mode
   * (equal-resources gets as many as parm, all deployed workers), each downlink limited by
   * `opts.link`, and a bulk agent on every instance host when transfers are on.
   */
  static async create(opts: TailBenchOptions): Promise<HostsTopology> {
    const why = netnsUnavailable();
    if (why) throw new ParmError('PARM_ERR_CLI_USAGE', `--topology hosts: ${why}`);
    const n = Math.max(...opts.modes.map((spec) => {
      const c = instancesFor(spec, opts.instances);
      return c.deployed + c.parity;
    }));
    const instanceHosts = Array.from({ length: n }, (_, i) => workerHost(i));
    const cluster = NetnsCluster.create({ tag: 'bt', subnet: SUBNET, hosts: [FRONTEND, LOADGEN, ...instanceHosts] });
    try {
      for (const h of cluster.hosts.keys()) cluster.limitDownlink(h, opts.link);
      const agents = opts.transfers && instanceHosts.length >= 2 ? await BulkAgents.start(cluster, instanceHosts) : null;
      return new HostsTopology(cluster, agents, opts, instanceHosts);
    } catch (err) {
      cluster.destroy();
      throw err;
    }
  }

  /** The seeded transfers of one run: those that start within the run. */
  plan(run: RunSpec, durationMs: number): PlannedTransfer[] {
    if (!this.transfers || !this.agents) return [];
    return transferPlan({ ...this.transfers, seed: run.seed + TRANSFER_SEED_OFFSET }, this.instanceHosts, durationMs);
  }

  /** Starts one run's workers and frontend; the target's background runs the transfer plan. */
  async startTarget(run: RunSpec, opts: TailBenchOptions, workDir: string, name: string): Promise<Target> {
    const base = deploymentFromManifest(bundledManifestPath(), opts.deployment, { k: run.spec.k ?? 2 });
    const parityRow: ParityModelSpec | undefined = base.parityModels?.[0];
    if (run.spec.mode === 'parm' && !parityRow?.path) throw new ParmError('PARM_ERR_CLI_USAGE', `${opts.deployment}: no parity model for k=${run.spec.k}`);
    const { deployed, parity } = hostsOf(run);
    const wrap = (h: string) => (cmd: string, args: string[]) => this.cluster.argv(h, cmd, args);
    const address = (h: string) => this.cluster.host(h).address;
    const workers: ParmProcess[] = [];
    const stopAll = () => Promise.all(workers.map((w) => w.stop()));
    try {
      const start = (h: string, model: string, modelName: string) =>
        spawnParmWorker({ model, modelName, host: address(h), port: WORKER_PORT, workDir, name: `${name}-${h}`, wrap: wrap(h) }).then((w) => void workers.push(w));
      await Promise.all([...deployed.map((h) => start(h, base.deployedModel!, 'deployed')), ...parity.map((h) => start(h, parityRow!.path!, 'parity'))]);
      const url = (h: string, m: string) => `http://${address(h)}:${WORKER_PORT}/v2/models/${m}`;
      const deployment: EngineOptions = {
        name: base.name,
        mode: run.spec.mode,
        deployedBackends: deployed.map((h) => url(h, 'deployed')),
        ...(opts.engine as Partial<EngineOptions>),
      };
      if (run.spec.mode !== 'none') deployment.k = run.spec.k!;
      if (run.spec.mode === 'parm') deployment.parityModels = [{ backends: parity.map((h) => url(h, 'parity')), ...(parityRow!.coefficients ? { coefficients: parityRow!.coefficients } : {}) }];
      if (run.spec.mode === 'hedged' && opts.hedgeDelayMs !== undefined) deployment.hedgeDelayMs = opts.hedgeDelayMs;
      if (opts.background) deployment.background = { ...opts.background, seed: run.seed };
      const config: ServeConfigFile = { host: address(FRONTEND), port: 0, limits: { maxInFlightPerConnection: 100_000 }, deployments: [deployment] };
      const server = await spawnParmServe({ config, model: base.name, workDir, name, wrap: wrap(FRONTEND) });
      const plan = this.plan(run, opts.durationMs);
      if (this.record.transfers) this.record.transfers.schedule[String(run.trial)] ??= plan.map((p) => [Math.round(p.atMs), p.from, p.to]);
      let running: { stop(): Promise<TransferResult[]> } | null = null;
      let stats: Pick<TrialRecord, 'transfers' | 'transfer_mbit'> = { transfers: 0, transfer_mbit: null };
      return {
        wsUrl: `ws://${address(FRONTEND)}:${server.port}/v2/models/${encodeURIComponent(base.name)}/infer/stream`,
        instances: { deployed: deployed.length, parity: parity.length },
        // The frontend and every worker: the same work a local `parm serve` does in one process.
        cpuMs: () => {
          const all = [server.cpuMs(), ...workers.map((w) => w.cpuMs())];
          return all.some((c) => c === null) ? null : all.reduce((a, b) => a! + b!, 0);
        },
        fork: (modulePath: string, args: string[], forkOpts: ForkOptions): ChildProcess => this.cluster.fork(LOADGEN, modulePath, args, forkOpts),
        background: {
          start: () => {
            if (this.agents && plan.length > 0) running = this.agents.run(plan);
          },
          stop: async () => {
            const done = running ? await running.stop() : [];
            const ok = done.filter((r) => r.error === null && r.ms > 0);
            stats = { transfers: done.length, transfer_mbit: ok.length ? ok.reduce((a, r) => a + (r.bytes * 8) / (r.ms * 1000), 0) / ok.length : null };
          },
        },
        runStats: () => stats,
        stop: async () => {
          await server.stop();
          await stopAll();
        },
      };
    } catch (err) {
      await stopAll();
      throw err;
    }
  }

  close(): void {
    this.agents?.close();
    this.cluster.destroy();
  }
}

// Bulk transfers between namespace hosts: one agent per host (bulk-agent.ts, a sink and a sender),
// single transfers on request, and the tail benchmark's background across hosts: a seeded schedule
// of transfers between random pairs of hosts (the same in every mode of a trial), each one
// filling the receiver's rate-limited downlink for its duration.
import type { ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackgroundSchedule } from '../../engine/background.js';
import type { AgentCommand, AgentReport } from './bulk-agent.js';
import type { NetnsCluster } from './netns.js';

const AGENT = fileURLToPath(new URL(`./bulk-agent${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** The port every agent's sink listens on (each host has its own port space). */
export const SINK_PORT = 5201;

export interface TransferSchedule {
  /** A new transfer starts every periodMs, */
  periodMs: number;
  /** and lasts this long. */
  durationMs: number;
  /** Seeds the pairs; hosts are picked as the background-load schedule picks a pair of instances. */
  seed: number;
}

export interface PlannedTransfer {
  /** Start, ms after the schedule's start. */
  atMs: number;
  from: string;
  to: string;
  ms: number;
}

export interface TransferResult extends PlannedTransfer {
  /** Bytes the sender handed to its kernel before the deadline. */
  bytes: number;
  error: string | null;
}

/**
 * The transfers that start within `windowMs`: period i starts at i * periodMs and sends from host
 * a to host b, [a, b] the i-th pair of BackgroundSchedule (width 2) over `hosts` with this seed.
 */
export function transferPlan(schedule: TransferSchedule, hosts: readonly string[], windowMs: number): PlannedTransfer[] {
  if (hosts.length < 2) throw new RangeError(`transfers need at least two hosts, got ${hosts.length}`);
  const pairs = new BackgroundSchedule({ seed: schedule.seed, width: 2 }, hosts.length);
  const out: PlannedTransfer[] = [];
  for (let at = 0; at < windowMs; at += schedule.periodMs) {
    const [a, b] = pairs.next() as [number, number];
    out.push({ atMs: at, from: hosts[a]!, to: hosts[b]!, ms: schedule.durationMs });
  }
  return out;
}

interface Agent {
  child: ChildProcess;
  address: string;
}

export class BulkAgents {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Extract<AgentReport, { type: 'sent' }>) => void>();
  private readonly counts = new Map<string, ((bytes: number) => void)[]>();

  private constructor(private readonly agents: Map<string, Agent>) {
    for (const [host, a] of agents) {
      a.child.on('message', (m: AgentReport) => {
        if (m.type === 'sent') {
          this.waiting.get(m.id)?.(m);
          this.waiting.delete(m.id);
        } else if (m.type === 'received') this.counts.get(host)?.shift()?.(m.bytes);
      });
    }
  }

  /** Forks an agent into each host and waits until every sink listens. */
  static async start(cluster: NetnsCluster, hosts: readonly string[]): Promise<BulkAgents> {
    const agents = new Map<string, Agent>();
    try {
      await Promise.all(
        hosts.map(async (host) => {
          const child = cluster.fork(host, AGENT, [String(SINK_PORT)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
          agents.set(host, { child, address: cluster.host(host).address });
          await new Promise<void>((resolve, reject) => {
            child.once('message', (m: AgentReport) => (m.type === 'listening' ? resolve() : reject(new Error(`bulk agent on ${host}: unexpected ${m.type}`))));
            child.once('exit', (code) => reject(new Error(`bulk agent on ${host} exited (${code}) before listening`)));
          });
        }),
      );
    } catch (err) {
      for (const a of agents.values()) a.child.kill('SIGKILL');
      throw err;
    }
    return new BulkAgents(agents);
  }

  private agent(host: string): Agent {
    const a = this.agents.get(host);
    if (!a) throw new RangeError(`no bulk agent on host '${host}'`);
    return a;
  }

  /** One transfer from `from` to `to`'s sink for `ms`; resolves when the sender stopped. */
  send(from: string, to: string, ms: number): Promise<{ bytes: number; ms: number; error: string | null }> {
    const id = this.nextId++;
    const cmd: AgentCommand = { type: 'send', id, host: this.agent(to).address, port: SINK_PORT, ms };
    return new Promise((resolve) => {
      this.waiting.set(id, (r) => resolve({ bytes: r.bytes, ms: r.ms, error: r.error }));
      this.agent(from).child.send(cmd);
    });
  }

  /** Bytes `host`'s sink has received so far. */
  received(host: string): Promise<number> {
    return new Promise((resolve) => {
      const list = this.counts.get(host) ?? [];
      list.push(resolve);
      this.counts.set(host, list);
      this.agent(host).child.send({ type: 'received' } satisfies AgentCommand);
    });
  }

  /**
   * Runs a plan from now (start times anchored to the start, so that timer lateness does not
   * drift the schedule); stop() cancels the transfers not yet started and waits for the others.
   */
  run(plan: readonly PlannedTransfer[]): { stop(): Promise<TransferResult[]> } {
    const t0 = performance.now();
    const results: Promise<TransferResult>[] = [];
    let next = 0;
    let timer: NodeJS.Timeout | null = null;
    const tick = (): void => {
      while (next < plan.length && plan[next]!.atMs <= performance.now() - t0) {
        const p = plan[next++]!;
        results.push(this.send(p.from, p.to, p.ms).then((r) => ({ ...p, bytes: r.bytes, error: r.error })));
      }
      if (next < plan.length) timer = setTimeout(tick, Math.max(0, t0 + plan[next]!.atMs - performance.now()));
    };
    tick();
    return {
      stop: async () => {
        if (timer) clearTimeout(timer);
        next = plan.length;
        return Promise.all(results);
      },
    };
  }

  close(): void {
    for (const a of this.agents.values()) {
      if (a.child.connected) a.child.send({ type: 'stop' } satisfies AgentCommand);
      a.child.kill('SIGTERM');
    }
  }
}

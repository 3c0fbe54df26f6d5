// Prometheus metrics for GET /metrics: the front's own request counters and latency histograms,
// plus the engines' counters and health read from engine.metrics() at scrape time.
import { Counter, Gauge, Registry } from 'prom-client';
import { RUN_TIME_QUANTILES, idleClassLabel } from '../engine/metrics.js';
import type { Engine, EngineMetrics } from '../engine/types.js';
import { LatencyHistogram, type LatencySeries } from './latency-histogram.js';
import { runTimeHistogramText } from './run-time-histogram.js';

export type Transport = 'http' | 'ws' | 'grpc';

/** How a request ended: answered 200, answered with an error, or its answer never delivered (the client went away). */
export type Outcome = 'success' | 'failure' | 'aborted';

/** The status label (and access-log status) of an aborted request: nginx's "client closed request". */
export const ABORTED_STATUS = 499;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
const INSTANCE_STATES = ['starting', 'ready', 'busy', 'down', 'restarting'] as const;

/**
 * One deployment's requests over one transport: plain counts on each request's path, read into
 * parm_requests_total at scrape time, and its two latency series (original, reconstructed).
 */
interface FrontCounts {
  success: number;
  aborted: number;
  /** Failed requests by status. */
  failures: Map<number, number>;
  latency: [original: LatencySeries, reconstructed: LatencySeries];
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly latency: LatencyHistogram;
  /** By deployment, then transport. */
  private readonly counts = new Map<string, Map<Transport, FrontCounts>>();
  readonly wsConnections: Gauge;
  /**
   * Requests received and not yet answered, per transport that has carried one: plain numbers on
   * each request's path, read into parm_requests_in_flight at scrape time.
   */
  readonly inFlight = new Map<Transport, number>();
  /** Told of every successful answer after it is counted (the dashboard's latency windows). */
  onSuccess: ((model: string, seconds: number, reconstructed: boolean) => void) | undefined;
  /** Engine metrics read in the scrape in progress, by deployment. */
  private readonly scrape = new Map<string, EngineMetrics>();

  constructor(private readonly engines: ReadonlyMap<string, Engine>) {
    const registers = [this.registry];
    const requests: Counter<'model' | 'transport' | 'outcome' | 'status'> = new Counter({
      name: 'parm_requests_total',
      help: 'Inference requests received by the network front, by outcome (success | failure | aborted: the client went away before the answer) and HTTP-equivalent status (499 for aborted)',
      labelNames: ['model', 'transport', 'outcome', 'status'],
      registers,
      collect: () => {
        requests.reset();
        for (const [model, byTransport] of this.counts) {
          for (const [transport, c] of byTransport) {
            if (c.success > 0) requests.inc({ model, transport, outcome: 'success', status: '200' }, c.success);
            for (const [status, n] of c.failures) requests.inc({ model, transport, outcome: 'failure', status: String(status) }, n);
            if (c.aborted > 0) requests.inc({ model, transport, outcome: 'aborted', status: String(ABORTED_STATUS) }, c.aborted);
          }
        }
      },
    });
    this.latency = new LatencyHistogram(
      'parm_request_duration_seconds',
      'Time from a request fully received to its answer handed to the transport, successful requests only',
      LATENCY_BUCKETS,
      this.registry,
    );
    this.wsConnections = new Gauge({ name: 'parm_ws_connections', help: 'Open WebSocket connections', registers });
    const inFlight: Gauge<'transport'> = new Gauge({
      name: 'parm_requests_in_flight',
      help: 'Inference requests received and not yet answered',
      labelNames: ['transport'],
      registers,
      collect: () => {
        for (const [transport, n] of this.inFlight) inFlight.set({ transport }, n);
      },
    });

    // Every collector reads one snapshot per engine, taken once per scrape (text()).
    const each = (fn: (name: string, m: EngineMetrics) => void) => () => {
      for (const [name, e] of engines) fn(name, this.snapshot(name, e));
    };
    // Engine counters are monotonic in the engine; mirror them as counters set at scrape time:
    // reset once, then one series per deployment.
    const mirror = (name: string, help: string, pick: (m: EngineMetrics) => number) => {
      const c: Counter<'model'> = new Counter({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect: () => {
          c.reset();
          for (const [model, e] of engines) c.inc({ model }, pick(this.snapshot(model, e)));
        },
      });
    };
    mirror('parm_engine_queries_total', 'Queries accepted by the engine', (m) => m.queries);
    mirror('parm_engine_answered_total', 'Queries the engine answered', (m) => m.answered);
    mirror('parm_engine_reconstructions_total', 'Answers decoded from a parity output', (m) => m.reconstructions);
    mirror('parm_engine_late_originals_total', 'Originals that arrived after a reconstruction had answered (discarded)', (m) => m.lateOriginalsDiscarded);
    mirror('parm_engine_errors_total', 'Queries that failed in the engine', (m) => m.errors);
    mirror('parm_engine_restarts_total', 'Instance restarts', (m) => m.restarts);
    mirror('parm_engine_rejected_total', 'Queries refused before acceptance (invalid, overloaded, closed, not ready)', (m) => m.rejected);
    mirror('parm_engine_hedges_total', 'Hedged mode: duplicate tasks issued', (m) => m.hedges);
    mirror('parm_engine_groups_total', 'Coding groups formed', (m) => m.groups);
    mirror('parm_engine_partial_groups_total', 'Coding groups that closed with fewer than k members', (m) => m.partialGroups);
    mirror('parm_engine_unprotected_total', 'Queries left without parity', (m) => m.unprotected);
    mirror('parm_engine_parity_cancelled_total', 'Queued parity work dropped because its groups were already answered', (m) => m.parityCancelled);
    mirror('parm_engine_parity_skipped_total', 'Parity tasks never started: every member of their groups answered within the parity deferral', (m) => m.paritySkipped);
    mirror('parm_engine_abandoned_total', 'Requests still running on a remote instance, aborted because a reconstruction had answered them', (m) => m.abandoned);

    const queue: Gauge<'model' | 'role'> = new Gauge({
      name: 'parm_engine_queue_depth',
      help: 'Queries waiting for an instance, by role',
      labelNames: ['model', 'role'],
      registers,
      collect: each((model, m) => {
        const q = m.queueDepth;
        queue.set({ model, role: 'deployed' }, q.deployed);
        queue.set({ model, role: 'parity' }, q.parity);
      }),
    });
    const up: Gauge<'model' | 'instance' | 'role' | 'state'> = new Gauge({
      name: 'parm_instance_state',
      help: 'Instance health: 1 for the state the instance is in, 0 for the others',
      labelNames: ['model', 'instance', 'role', 'state'],
      registers,
      collect: each((model, m) => {
        for (const inst of m.instances) {
          for (const s of INSTANCE_STATES) up.set({ model, instance: inst.id, role: inst.role, state: s }, inst.state === s ? 1 : 0);
        }
      }),
    });
    const backendInfo: Gauge<'model' | 'instance' | 'role' | 'backend'> = new Gauge({
      name: 'parm_instance_backend_info',
      help: "Always 1: where an instance runs; backend is a remote instance's model endpoint URL, '' for a local one",
      labelNames: ['model', 'instance', 'role', 'backend'],
      registers,
      collect: each((model, m) => {
        for (const inst of m.instances) backendInfo.set({ model, instance: inst.id, role: inst.role, backend: inst.backend ?? '' }, 1);
      }),
    });
    const instRuns: Counter<'model' | 'instance' | 'role'> = new Counter({
      name: 'parm_instance_runs_total',
      help: 'Runs an instance finished with a result (restarts included): how the scheduler spreads work',
      labelNames: ['model', 'instance', 'role'],
      registers,
      collect: () => {
        instRuns.reset();
        each((model, m) => {
          for (const inst of m.instances) instRuns.inc({ model, instance: inst.id, role: inst.role }, inst.completedRuns);
        })();
      },
    });
    const instFlight: Gauge<'model' | 'instance'> = new Gauge({
      name: 'parm_instance_in_flight',
      help: 'Queries running on an instance',
      labelNames: ['model', 'instance'],
      registers,
      collect: each((model, m) => {
        for (const inst of m.instances) instFlight.set({ model, instance: inst.id }, inst.inFlight);
      }),
    });
    const suspected: Gauge<'model' | 'instance'> = new Gauge({
      name: 'parm_instance_suspected_hung',
      help: 'Instances running a query far longer than their recent runs (1), not yet declared hung and replaced',
      labelNames: ['model', 'instance'],
      registers,
      collect: each((model, m) => {
        for (const inst of m.instances) suspected.set({ model, instance: inst.id }, inst.suspectedHung ? 1 : 0);
      }),
    });
    const runTime: Gauge<'model' | 'role' | 'quantile'> = new Gauge({
      name: 'parm_engine_run_time_ms',
      help: 'Run time of a task on an instance (handed over to result, ms) by role, at the quantiles of RUN_TIME_QUANTILES: what parm simulate is calibrated on',
      labelNames: ['model', 'role', 'quantile'],
      registers,
      collect: each((model, m) => {
        for (const role of ['deployed', 'parity'] as const) {
          const s = m.runTime[role];
          if (s.count === 0) continue;
          RUN_TIME_QUANTILES.forEach((p, i) => runTime.set({ model, role, quantile: String(p) }, s.quantiles[i]!));
        }
      }),
    });
    // Every idle class with runs, per deployment and role.
    type IdleLabels = { model: string; role: 'deployed' | 'parity'; idle_below_ms: string };
    const eachIdleClass = (fn: (labels: IdleLabels, c: EngineMetrics['runTime']['deployed']['byIdle'][number]) => void) =>
      each((model, m) => {
        for (const role of ['deployed', 'parity'] as const) {
          for (const c of m.runTime[role].byIdle) if (c.count > 0) fn({ model, role, idle_below_ms: idleClassLabel(c.idleBelowMs) }, c);
        }
      });
    const runTimeByIdle: Gauge<'model' | 'role' | 'idle_below_ms' | 'quantile'> = new Gauge({
      name: 'parm_engine_run_time_by_idle_ms',
      help: 'parm_engine_run_time_ms by how long the instance had been without work before the run (ms, from the previous class bound up to idle_below_ms); classes with no runs are left out',
      labelNames: ['model', 'role', 'idle_below_ms', 'quantile'],
      registers,
      collect: eachIdleClass((labels, c) => RUN_TIME_QUANTILES.forEach((p, i) => runTimeByIdle.set({ ...labels, quantile: String(p) }, c.quantiles[i]!))),
    });
    const runsByIdle: Gauge<'model' | 'role' | 'idle_below_ms'> = new Gauge({
      name: 'parm_engine_runs_by_idle',
      help: 'Runs measured per role and idle class (the count behind parm_engine_run_time_by_idle_ms)',
      labelNames: ['model', 'role', 'idle_below_ms'],
      registers,
      collect: eachIdleClass((labels, c) => runsByIdle.set(labels, c.count)),
    });
    const engLatency: Gauge<'model' | 'kind' | 'quantile'> = new Gauge({
      name: 'parm_engine_latency_ms',
      help: 'Engine-measured latency quantiles (ms) by how the answer was produced (original | reconstructed | all)',
      labelNames: ['model', 'kind', 'quantile'],
      registers,
      collect: each((model, m) => {
        for (const [kind, s] of Object.entries(m.latency)) {
          engLatency.set({ model, kind, quantile: '0.5' }, s.p50);
          engLatency.set({ model, kind, quantile: '0.99' }, s.p99);
          engLatency.set({ model, kind, quantile: '0.999' }, s.p999);
        }
      }),
    });
  }

  success(model: string, transport: Transport, seconds: number, reconstructed: boolean): void {
    const c = this.countsOf(model, transport);
    c.success++;
    c.latency[reconstructed ? 1 : 0].observe(seconds);
    this.onSuccess?.(model, seconds, reconstructed);
  }

  failure(model: string, transport: Transport, status: number): void {
    const f = this.countsOf(model, transport).failures;
    f.set(status, (f.get(status) ?? 0) + 1);
  }

  /** A request whose answer (success or error) could not be delivered: the client had gone. No latency is observed. */
  aborted(model: string, transport: Transport): void {
    this.countsOf(model, transport).aborted++;
  }

  /** A deployment's counts over a transport, made at its first request. */
  private countsOf(model: string, transport: Transport): FrontCounts {
    let byTransport = this.counts.get(model);
    if (!byTransport) this.counts.set(model, (byTransport = new Map()));
    let c = byTransport.get(transport);
    if (!c) {
      // Both latency series exist from the first request; the scrape shows each once observed.
      const series = (reconstructed: boolean) => this.latency.series({ model, transport, reconstructed: String(reconstructed) });
      byTransport.set(transport, (c = { success: 0, aborted: 0, failures: new Map(), latency: [series(false), series(true)] }));
    }
    return c;
  }

  /** The Prometheus text of one scrape: every engine's metrics() read once, then every collector, then the run-time histograms. */
  async text(): Promise<string> {
    this.scrape.clear();
    try {
      const collected = await this.registry.metrics();
      // prom-client's Prometheus text (this registry's type) separates metrics with a blank line.
      return `${collected}\n${runTimeHistogramText(Array.from(this.engines, ([model, e]) => [model, this.snapshot(model, e)]))}`;
    } finally {
      this.scrape.clear();
    }
  }

  /** One engine's metrics for the scrape in progress. */
  private snapshot(name: string, e: Engine): EngineMetrics {
    let m = this.scrape.get(name);
    if (!m) {
      m = e.metrics();
      this.scrape.set(name, m);
    }
    return m;
  }
}

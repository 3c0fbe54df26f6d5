// Triton's statistics extension (GET /v2/models[/{m}[/versions/{v}]]/stats, gRPC ModelStatistics):
// per deployment, what the fronts saw of each engine run (success and failure counts and time,
// samples answered, the last request's time) plus the engine's own counters, in Triton's shape.
// Durations parm does not break down (queue, compute_*) are reported as zero counts.
import { ParmError } from '../errors.js';
import type { EngineMetrics, InferResult } from '../engine/types.js';

/** Triton's `$duration_stat`: how many times, and their total time in nanoseconds. */
export interface DurationStat {
  count: number;
  ns: number;
}

export interface InferenceStats {
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
  cache_hit: DurationStat;
  cache_miss: DurationStat;
}

/** One model's statistics: Triton's `$model_stat`, then parm's engine counters (`parm_*`, HTTP only). */
export interface ModelStat {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last request that reached the engine (0: none yet). */
  last_inference: number;
  /** Samples answered successfully (a batch of n counts n). */
  inference_count: number;
  /** Deployed-model runs measured by the engine (first tries, retries, hedges; an engine batch runs once). */
  execution_count: number;
  inference_stats: InferenceStats;
  batch_stats: never[];
  memory_usage: never[];
  response_stats: Record<string, never>;
  parm_queries: number;
  parm_reconstructions: number;
  parm_late_originals: number;
  parm_errors: number;
  parm_rejected: number;
  parm_restarts: number;
  parm_retries: number;
  parm_hedges: number;
  parm_groups: number;
  parm_partial_groups: number;
  parm_unprotected: number;
  parm_parity_cancelled: number;
}

/** What statistics need of a deployment. */
export interface StatSource {
  readonly options: { readonly name: string; readonly version?: string };
  metrics(): EngineMetrics;
}

interface Tally {
  success: DurationStat;
  fail: DurationStat;
  samples: number;
  lastInference: number;
}

const zero = (): DurationStat => ({ count: 0, ns: 0 });

export class StatisticsBook {
  /** By deployment name; kept across unload and load. */
  private readonly tallies = new Map<string, Tally>();

  /** Counts one engine run of `samples` samples when it settles; returns it unchanged. */
  observe(model: string, samples: number, run: Promise<InferResult>): Promise<InferResult> {
    const t = this.tally(model);
    t.lastInference = Date.now();
    const t0 = performance.now();
    const took = () => Math.round((performance.now() - t0) * 1e6);
    run.then(
      () => {
        t.success.count++;
        t.success.ns += took();
        t.samples += samples;
      },
      () => {
        t.fail.count++;
        t.fail.ns += took();
      },
    );
    return run;
  }

  /**
   * Statistics of every deployment, or of `name` (404 if unknown) and `version` (404 unless the
   * one it serves; without `name`, the deployments serving that version), in the order of `sources`.
   */
  report(sources: Iterable<StatSource>, name?: string, version?: string): ModelStat[] {
    const list = [...sources];
    const chosen = name === undefined ? list : list.filter((s) => s.options.name === name);
    if (name !== undefined && chosen.length === 0) throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown model '${name}'`);
    return chosen.flatMap((s) => {
      const v = s.options.version || '1';
      if (version !== undefined && version !== v) {
        // Every model, one version: those that serve another are left out.
        if (name === undefined) return [];
        throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown version '${version}' of model '${s.options.name}' (serving version '${v}')`);
      }
      return [this.stat(s, v)];
    });
  }

  private stat(s: StatSource, version: string): ModelStat {
    const t = this.tally(s.options.name);
    const m = s.metrics();
    return {
      name: s.options.name,
      version,
      last_inference: t.lastInference,
      inference_count: t.samples,
      execution_count: m.runTime.deployed.count,
      inference_stats: {
        success: { ...t.success },
        fail: { ...t.fail },
        queue: zero(),
        compute_input: zero(),
        compute_infer: zero(),
        compute_output: zero(),
        cache_hit: zero(),
        cache_miss: zero(),
      },
      batch_stats: [],
      memory_usage: [],
      response_stats: {},
      parm_queries: m.queries,
      parm_reconstructions: m.reconstructions,
      parm_late_originals: m.lateOriginalsDiscarded,
      parm_errors: m.errors,
      parm_rejected: m.rejected,
      parm_restarts: m.restarts,
      parm_retries: m.retries,
      parm_hedges: m.hedges,
      parm_groups: m.groups,
      parm_partial_groups: m.partialGroups,
      parm_unprotected: m.unprotected,
      parm_parity_cancelled: m.parityCancelled,
    };
  }

  private tally(model: string): Tally {
    let t = this.tallies.get(model);
    if (!t) {
      t = { success: zero(), fail: zero(), samples: 0, lastInference: 0 };
      this.tallies.set(model, t);
    }
    return t;
  }
}

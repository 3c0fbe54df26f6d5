// A simulation study: every combination of fleet size, load and mode (with k and r), each one
// simulated run with the same seed (so the same arrivals and stragglers in every mode), and the
// gap cut against equal-resources at the same fleet size and load.
import { ParmError } from '../errors.js';
import type { DecodePolicy, Mode } from '../engine/types.js';
import { labelOf, simulate, type SharedCpu, type SimConfig, type SimResult, type Stragglers } from './simulate.js';
import type { ServiceTime } from './service-times.js';

export interface SimMode {
  mode: Mode;
  k: number;
  r: number;
}

export interface SimPlan {
  modes: SimMode[];
  /** Deployed instances m of each fleet simulated. */
  instances: number[];
  /** Offered loads as a utilisation of the m deployed instances (0..1), or explicit rates (queries/s). */
  loads: { kind: 'utilisation' | 'rate'; values: number[] };
  queries: number;
  seed: number;
  service: { deployed: ServiceTime; parity: ServiceTime };
  frontend?: ServiceTime;
  /** Cores shared by every instance of a fleet; absent: a core per instance. */
  cpu?: SharedCpu;
  stragglers: Stragglers;
  arrivals?: Float64Array;
  decode?: DecodePolicy;
  groupWaitMs?: number;
  hedgeDelayMs?: number;
  /** The engine's warmFirst (absent: its default). */
  warmFirst?: boolean;
}

export interface SimRecord extends SimResult {
  /** Deployed instances m of the fleet (before parity or extra replicas). */
  m: number;
  /** The load as given (utilisation or rate). */
  load: number;
  gap_ratio_vs_equal_resources: number | null;
  p50_ratio_vs_equal_resources: number | null;
}

/** `none,equal-resources,hedged,parm:2,parm:4:r2` (k defaults to 2, r to 1; r only for parm). */
export function parseSimModes(text: string): SimMode[] {
  const out: SimMode[] = [];
  for (const token of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, kText, rText] = token.split(':');
    if (!['none', 'equal-resources', 'hedged', 'parm'].includes(name!)) {
      throw new ParmError('PARM_ERR_CLI_USAGE', `--modes: unknown mode "${name}" (none, equal-resources, hedged, parm:K[:rR])`);
    }
    const k = kText === undefined ? 2 : Number(kText);
    const r = rText === undefined ? 1 : Number(rText.replace(/^r/, ''));
    if (!Number.isInteger(k) || k < 2 || k > 16 || !Number.isInteger(r) || r < 1 || r > k || (r > 1 && name !== 'parm')) {
      throw new ParmError('PARM_ERR_CLI_USAGE', `--modes: bad "${token}" (k an integer 2..16; r 1..k, parm only)`);
    }
    if (!out.some((m) => m.mode === name && m.k === k && m.r === r)) out.push({ mode: name as Mode, k, r });
  }
  if (out.length === 0) throw new ParmError('PARM_ERR_CLI_USAGE', '--modes: no mode given');
  return out;
}

/** Queries/s offered to a fleet of m deployed instances at a load. */
export function rateFor(plan: SimPlan, m: number, load: number): number {
  return plan.loads.kind === 'rate' ? load : (load * m * 1000) / plan.service.deployed.meanMs;
}

/**
 * Runs the plan, every combination in turn (one core: runs do not overlap). `onRun` reports each
 * result as it comes. Equal-resources is added to every fleet and load when missing (the ratios
 * need it).
 */
export async function runPlan(plan: SimPlan, onRun?: (r: SimRecord, index: number, total: number) => void): Promise<SimRecord[]> {
  const modes = plan.modes.some((m) => m.mode === 'equal-resources') ? plan.modes : [{ mode: 'equal-resources' as Mode, k: 2, r: 1 }, ...plan.modes];
  const total = plan.instances.length * plan.loads.values.length * modes.length;
  const records: SimRecord[] = [];
  for (const m of plan.instances) {
    for (const load of plan.loads.values) {
      const group: SimRecord[] = [];
      for (const mode of modes) {
        const config: SimConfig = {
          ...mode,
          instances: m,
          rate: rateFor(plan, m, load),
          queries: plan.queries,
          service: plan.service,
          stragglers: plan.stragglers,
          seed: plan.seed,
          ...(plan.frontend ? { frontend: plan.frontend } : {}),
          ...(plan.cpu ? { cpu: plan.cpu } : {}),
          ...(plan.arrivals ? { arrivals: plan.arrivals } : {}),
          ...(plan.decode ? { decode: plan.decode } : {}),
          ...(plan.groupWaitMs !== undefined ? { groupWaitMs: plan.groupWaitMs } : {}),
          ...(plan.hedgeDelayMs !== undefined ? { hedgeDelayMs: plan.hedgeDelayMs } : {}),
          ...(plan.warmFirst !== undefined ? { warmFirst: plan.warmFirst } : {}),
        };
        const res = await simulate(config);
        const rec: SimRecord = { ...res, m, load, gap_ratio_vs_equal_resources: null, p50_ratio_vs_equal_resources: null };
        group.push(rec);
        records.push(rec);
        onRun?.(rec, records.length, total);
      }
      const er = group.find((r) => r.mode === 'equal-resources')!;
      for (const r of group) {
        r.gap_ratio_vs_equal_resources = r.gap_ms > 0 ? er.gap_ms / r.gap_ms : null;
        r.p50_ratio_vs_equal_resources = er.p50 > 0 ? r.p50 / er.p50 : null;
      }
    }
  }
  return records;
}

export { labelOf };

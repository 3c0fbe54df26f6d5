// A validation with several real trials per mode and load: the medians over the trials, real
// against simulated, and the goals on them (src/sim/over-trials.ts), in the table and not without trials.
import t from 'tap';
import { overTrials } from '../../src/sim/over-trials.js';
import type { Calibration } from '../../src/sim/validate-record.js';
import { formatValidateTable } from '../../src/sim/validate-table.js';

/** A run of `mode` at `rate` whose real and simulated p50 / p99 / p99.9 are given. */
function row(mode: string, rate: number, trial: number, real: [number, number, number], sim: [number, number, number]): Calibration {
  const p = ([p50, p99, p999]: [number, number, number]) => ({ p50, p99, p999 });
  return {
    mode,
    rate,
    trial,
    real: p(real),
    simulated: { ...p(sim), run_time_mismatch: { deployed: null, parity: null } },
    service: {},
    error: { p50: 0, p99: 0, p999: 0 },
    met: false,
  } as unknown as Calibration;
}

t.test('medians over each mode and load trials, the goals on them', async (t) => {
  const rows = [
    // equal-resources at 200: the real p99 moves from trial to trial (4, 7, 4.4), the simulated one less.
    row('equal-resources', 200, 0, [0.8, 4.0, 52], [0.79, 4.6, 51]),
    row('parm k=2', 200, 0, [0.9, 4.3, 8], [0.88, 3.5, 7]),
    row('equal-resources', 200, 1, [0.82, 7.0, 52], [0.8, 4.3, 51]),
    row('parm k=2', 200, 1, [0.88, 4.5, 8.2], [0.87, 3.6, 7.2]),
    row('equal-resources', 200, 2, [0.78, 4.4, 51.5], [0.81, 4.8, 51.5]),
    row('parm k=2', 200, 2, [0.9, 4.4, 7.9], [0.86, 3.4, 7.1]),
    row('equal-resources', 400, 0, [0.7, 3, 51], [0.7, 3, 51]),
  ];
  const g = overTrials(rows);
  t.equal(g.length, 2, 'the load with one trial is left out');
  const er = g.find((x) => x.mode === 'equal-resources')!;
  t.equal(er.trials, 3);
  t.same(er.real, { p50: 0.8, p99: 4.4, p999: 52 }, "the real percentiles' medians");
  t.same(er.simulated, { p50: 0.8, p99: 4.6, p999: 51 }, "the simulated percentiles' medians");
  t.ok(Math.abs(er.error.p99 - (4.6 / 4.4 - 1)) < 1e-12, 'the error of the medians');
  t.equal(er.met, true, 'within the goals on the medians, where trial 1 alone (7.0 against 4.3) is not');
  const parm = g.find((x) => x.mode === 'parm k=2')!;
  t.equal(parm.met, false, 'p99 3.5 against 4.4: -20 %, out of the goal');
  t.same(overTrials(rows.filter((r) => r.trial === 0)), [], 'nothing with one trial each');

  const table = formatValidateTable(rows);
  t.match(table, /medians over the trials of each mode and load:/);
  t.match(table, /\| equal-resources \| 200 \| 3 \| 0\.800 \| 0\.800 \| \+0\.0 % \| 4\.40 \| 4\.60 \| \+4\.5 % \|.* yes \|/);
  t.match(table, /goals on the medians over trials: 1 of 2 modes and loads within them/);
  t.notMatch(formatValidateTable(rows.filter((r) => r.trial === 0)), /medians over the trials/, 'one trial each: no such table');
});

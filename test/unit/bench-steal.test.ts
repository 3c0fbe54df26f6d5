// The tail benchmark's hypervisor-steal reading (/proc/stat) and the per-run percentage.
import t from 'tap';
import { existsSync } from 'node:fs';
import { cpuTicks, stealPct } from '../../src/bench/tail/steal.js';

t.test('steal between two readings, as % of all CPU time', async (t) => {
  t.equal(stealPct({ steal: 10, total: 1000 }, { steal: 30, total: 2000 }), 2);
  t.equal(stealPct(null, { steal: 1, total: 2 }), null, 'a missing reading: null');
  t.equal(stealPct({ steal: 1, total: 5 }, { steal: 1, total: 5 }), null, 'no time passed: null');
});

t.test('this machine\'s /proc/stat reads as counters that only grow', { skip: existsSync('/proc/stat') ? false : 'no /proc/stat here' }, async (t) => {
  const a = cpuTicks()!;
  t.ok(a && a.total > 0 && a.steal >= 0 && a.steal <= a.total, `steal ${a?.steal} of ${a?.total} ticks`);
  await new Promise((r) => setTimeout(r, 50));
  const b = cpuTicks()!;
  t.ok(b.total >= a.total && b.steal >= a.steal);
});

// Pure pieces of `parm bench tail --topology hosts`: the seeded transfer schedule, which hosts a
// mode's workers take, and the flags that only apply across hosts. The hosts themselves are run
// by test/integration/cluster-netns.test.ts (the same NetnsCluster and bulk agents).
import t from 'tap';
import { optionsFromFlags } from '../../src/cli/bench.js';
import { hostsOf } from '../../src/bench/tail/hosts.js';
import { transferPlan } from '../../src/bench/tail/transfers.js';

/** Flags as commander leaves them: unset options are absent (`--no-transfers` alone defaults to true). */
const flags = (f: Record<string, unknown>) => optionsFromFlags({ charts: true, progress: false, ...f } as unknown as Parameters<typeof optionsFromFlags>[0]);

const hosts = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'];

t.test('transfer plan: seeded, one per period, a pair of distinct hosts, every host drawn', async (t) => {
  const a = transferPlan({ periodMs: 200, durationMs: 50, seed: 7 }, hosts, 10_000);
  t.same(transferPlan({ periodMs: 200, durationMs: 50, seed: 7 }, hosts, 10_000), a, 'same seed, same plan (every mode of a trial sees the same transfers)');
  t.not(JSON.stringify(transferPlan({ periodMs: 200, durationMs: 50, seed: 8 }, hosts, 10_000)), JSON.stringify(a), 'another seed, another plan');
  t.equal(a.length, 50, 'one transfer starts every period of the window');
  t.same(a.slice(0, 3).map((p) => p.atMs), [0, 200, 400]);
  t.ok(a.every((p) => p.from !== p.to && hosts.includes(p.from) && hosts.includes(p.to) && p.ms === 50), 'sender and receiver are two different hosts');
  t.same(new Set(a.flatMap((p) => [p.from, p.to])).size, hosts.length, 'every host takes part');
  t.throws(() => transferPlan({ periodMs: 200, durationMs: 50, seed: 1 }, ['w0'], 1000), /at least two hosts/);
});

t.test('hosts of a run: deployed workers first, parity after them', async (t) => {
  t.same(hostsOf({ instances: { deployed: 4, parity: 2 } }), { deployed: ['w0', 'w1', 'w2', 'w3'], parity: ['w4', 'w5'] });
  t.same(hostsOf({ instances: { deployed: 6, parity: 0 } }), { deployed: ['w0', 'w1', 'w2', 'w3', 'w4', 'w5'], parity: [] }, 'equal-resources: as many workers, all deployed');
});

t.test('--topology hosts flags', async (t) => {
  const o = flags({ topology: 'hosts', linkRate: 50, transferPeriod: 100, transferDuration: 40 });
  t.equal(o.topology, 'hosts');
  t.equal(o.link.mbit, 50);
  t.same(o.transfers, { periodMs: 100, durationMs: 40 });
  t.equal(o.background, null, 'across hosts the engine delays are off unless asked for');
  t.not(flags({ topology: 'hosts', background: 'delay' }).background, null, 'asked for: on');
  t.equal(flags({ topology: 'hosts', transfers: false }).transfers, null, '--no-transfers');
  const local = flags({});
  t.equal(local.topology, 'local');
  t.equal(local.transfers, null, 'no transfers on one host');
  t.not(local.background, null, 'the local default background stays');
  t.throws(() => flags({ linkRate: 10 }), /--link-rate applies to --topology hosts only/);
  t.throws(() => flags({ topology: 'hosts', transferPeriod: 10, transferDuration: 20 }), /must not exceed --transfer-period/);
});

t.test('engine flags reach the servers of every topology', async (t) => {
  t.same(flags({ parityDefer: 0, parityNice: 5 }).engine, { parityNice: 5, parityDeferMs: 0 }, '--parity-defer 0: eager parity');
  t.same(flags({ topology: 'hosts', parityDefer: 12.5 }).engine, { parityDeferMs: 12.5 });
  t.same(flags({}).engine, {}, 'unset: the engine decides');
});

// Pure pieces of the tail benchmark: seeded schedules, percentiles, ratios and verdicts, the
// request/answer framing, reading the server's port.
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { makeRng, permutation, poissonSchedule } from '../../src/bench/tail/rng.js';
import { addRatios, spread, summarize, verdicts, type TrialRecord } from '../../src/bench/tail/stats.js';
import { binaryRequest, jsonRequest, parseAnswer } from '../../src/bench/tail/stream-messages.js';
import { instancesFromMetrics, parsePort, processCpuMs } from '../../src/bench/tail/serve-process.js';
import { argmax } from '../../src/tensor-math.js';
import { decodeFrame, encodeFrame } from '../../src/wire/index.js';
import { parseBackground, parseModes } from '../../src/bench/tail/options.js';

t.test('Poisson schedule: seeded, the right rate, exponential gaps', async (t) => {
  const a = poissonSchedule(500, 60_000, makeRng(3));
  const b = poissonSchedule(500, 60_000, makeRng(3));
  t.same(a, b, 'same seed, same schedule');
  t.not(poissonSchedule(500, 60_000, makeRng(4))[0], a[0], 'another seed, another schedule');
  // 30 000 expected, sd ~173.
  t.ok(Math.abs(a.length - 30_000) < 700, `count ${a.length}`);
  const gaps = Array.from(a, (x, i) => x - (i ? a[i - 1]! : 0));
  const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
  const sd = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / gaps.length);
  t.ok(Math.abs(mean - 2) < 0.05, `mean gap ${mean} ms`);
  t.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean} ~ 1 (exponential)`);
  t.ok(a.every((x, i) => i === 0 || x >= a[i - 1]!), 'increasing');
  const p = permutation(1000, makeRng(9));
  t.same([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i), 'a permutation');
  t.not(makeRng(1).next(), makeRng(1, 1).next(), 'streams of one seed differ');
});

t.test('summarize: HdrHistogram percentiles within 0.1 % of exact ones; exact max and mean', async (t) => {
  const rng = makeRng(5);
  const xs = Array.from({ length: 20_000 }, () => 0.2 + -Math.log(1 - rng.next()) * 3);
  const sorted = [...xs].sort((a, b) => a - b);
  const exact = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]!;
  const s = summarize(xs);
  for (const [name, q] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99], ['p999', 0.999]] as const) {
    t.ok(Math.abs(s[name] / exact(q) - 1) < 0.002, `${name} ${s[name]} vs ${exact(q)}`);
  }
  t.equal(s.max, sorted[sorted.length - 1]);
  t.ok(Math.abs(s.mean - xs.reduce((a, b) => a + b, 0) / xs.length) < 1e-9);
  t.equal(s.count, 20_000);
  t.ok(Number.isNaN(summarize([]).p50), 'no samples, no percentiles');
  t.same(spread([3, 1, 2, NaN]), { median: 2, min: 1, max: 3 });
  t.same(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4 });
});

function rec(over: Partial<TrialRecord>): TrialRecord {
  return {
    mode: 'parm', k: 2, label: 'parm k=2', rate: 100, trial: 0, seed: 1, instances: { deployed: 4, parity: 2 }, queries: 1000, scheduled: 1000,
    errors: 0, lost: 0, p50_ms: 1, p90_ms: 2, p99_ms: 3, p999_ms: 5, max_ms: 6, mean_ms: 1.2, gap_ms: 4, gap_ratio_vs_equal_resources: null,
    p50_ratio_vs_equal_resources: null, reconstructed_fraction: 0.01, accuracy: 0.88, offered_rate: 100, send_lag_p99_ms: 0.5, generator_cpu_pct: 3, server_cpu_pct: 20, server_cpu_ms_per_query: 0.2, ...over,
  };
}

t.test('ratios against equal-resources and the done-when verdict', async (t) => {
  const er = (trial: number, gap: number, p50 = 1) => rec({ mode: 'equal-resources', label: 'equal-resources', trial, gap_ms: gap, p50_ms: p50 });
  const records = [er(0, 40), er(1, 36), rec({ trial: 0, gap_ms: 10 }), rec({ trial: 1, gap_ms: 9, p50_ms: 1.05 }), rec({ mode: 'none', k: null, label: 'none', trial: 0, gap_ms: 80 })];
  addRatios(records);
  t.equal(records[2]!.gap_ratio_vs_equal_resources, 4);
  t.equal(records[3]!.gap_ratio_vs_equal_resources, 4);
  t.equal(records[3]!.p50_ratio_vs_equal_resources, 1.05);
  t.equal(records[4]!.gap_ratio_vs_equal_resources, 0.5, 'none has the longer tail: ratio below 1');
  t.equal(records[0]!.gap_ratio_vs_equal_resources, 1);
  let [v] = verdicts(records);
  t.match(v, { rate: 100, trials: 2, er_gap_ms: 38, parm_gap_ms: 9.5, gap_ratio_min: 4, pass: true });
  // One trial short of 3.5x fails the whole verdict; so does a median (across trials) 20 % off.
  records[3]!.gap_ms = 12;
  [v] = verdicts(records);
  t.equal(v!.pass, false);
  records[3]!.gap_ms = 9;
  records[2]!.p50_ms = 1.2;
  records[3]!.p50_ms = 1.2;
  [v] = verdicts(records);
  t.equal(v!.pass, false);
  t.ok(Math.abs(v!.p50_diff_of_medians - 0.2) < 1e-12);
  // One trial 15 % off with the other on par: the median across trials is 7.5 % off, which passes.
  records[2]!.p50_ms = 1;
  records[3]!.p50_ms = 1.15;
  [v] = verdicts(records);
  t.equal(v!.pass, true);
  t.ok(Math.abs(v!.p50_diff_of_medians - 0.075) < 1e-12);
  t.ok(Math.abs(v!.p50_diff_max - 0.15) < 1e-12);
});

t.test('framing: JSON pixels round-trip to the exact float32; binary frame layout; answers', async (t) => {
  const img = Float32Array.from({ length: 784 }, (_, i) => (i * 37) % 256 / 255);
  const req = JSON.parse(jsonRequest('q1', img, [1, 1, 28, 28])) as { id: string; inputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }> };
  t.equal(req.id, 'q1');
  t.match(req.inputs[0], { name: 'input', shape: [1, 1, 28, 28], datatype: 'FP32' });
  t.same(Float32Array.from(req.inputs[0]!.data), img, 'every pixel parses back to the same float32');
  const bin = decodeFrame(binaryRequest('q2', img, [1, 1, 28, 28]));
  const header = JSON.parse(new TextDecoder().decode(bin.header)) as { id: string; inputs: Array<{ parameters: { binary_data_size: number } }> };
  t.equal(header.id, 'q2');
  t.equal(header.inputs[0]!.parameters.binary_data_size, 784 * 4);
  t.equal(bin.tensors.length, 784 * 4);
  t.same(new Float32Array(bin.tensors.slice().buffer), img);

  const a = parseAnswer(JSON.stringify({ id: 'q1', outputs: [{ name: 'logits', data: [[0, 3, 1]] }], parameters: { parm_reconstructed: true } }), false);
  t.match(a, { id: 'q1', reconstructed: true, engineMs: null });
  t.equal(argmax(a.logits!), 1);
  const timed = (v: unknown) => parseAnswer(JSON.stringify({ id: 't', outputs: [{ name: 'logits', data: [1] }], parameters: { parm_latency_ms: v } }), false).engineMs;
  t.equal(timed(1.25), 1.25, "the engine's latency is read from parm_latency_ms");
  t.same([timed('1'), timed(-1), timed(null)], [null, null, null], 'a latency that is not a non-negative number is no engine time');
  const e = parseAnswer(Buffer.from(JSON.stringify({ id: 7, error: 'bad' })), false);
  t.match(e, { id: '7', logits: null, error: 'bad' });
  const out = new Uint8Array(Float32Array.from([0, 0, 9]).buffer);
  const h = JSON.stringify({ id: 'b', outputs: [{ name: 'logits', parameters: { binary_data_size: 12, parm_reconstructed: false } }] });
  const b = parseAnswer(encodeFrame(h, [out]), true);
  t.match(b, { id: 'b', reconstructed: false });
  t.equal(argmax(b.logits!), 2);
  t.throws(() => parseAnswer(new Uint8Array([200, 0, 0, 0, 1]), true), /header length 200 exceeds the frame/);
  t.throws(() => parseAnswer('{"id": "n", "outputs": []}', false), /answer n: no outputs/);
  t.match(parseAnswer('{"id": "e", "outputs": [{"name": "logits", "data": []}]}', false), { id: 'e', error: 'empty logits' });

});

t.test('server output: port and instances', async (t) => {
  t.equal(parsePort('{"level":30,"host":"127.0.0.1","port":41234,"msg":"listening"}'), 41234);
  t.equal(parsePort('parm: serving on http://127.0.0.1:8000 (ws://127.0.0.1:8000/v2/models/x/infer/stream)'), 8000);
  t.equal(parsePort('loading 4 instances'), null);
  t.same(instancesFromMetrics('parm_instance_state{model="m",instance="deployed-0",role="deployed",state="ready"} 1\nparm_instance_state{model="m",instance="deployed-0",role="deployed",state="busy"} 0\nparm_instance_state{model="m",instance="deployed-1",role="deployed",state="ready"} 1\nparm_instance_state{model="m",instance="parity-0",role="parity",state="ready"} 1\n'), { deployed: 2, parity: 1 });
  t.equal(instancesFromMetrics('nothing'), null);
});

t.test('server CPU time from /proc', { skip: process.platform !== 'linux' ? 'reads /proc (Linux only)' : false }, async (t) => {
  // Spin until the process itself (process.cpuUsage) has burnt 150 ms of CPU, however long that
  // takes on a shared machine, then compare what /proc says with that independent count.
  const before = processCpuMs(process.pid)!;
  const start = process.cpuUsage();
  let x = 0;
  while (process.cpuUsage(start).user + process.cpuUsage(start).system < 150_000) x += Math.sqrt(x + 1);
  const burnt = (process.cpuUsage(start).user + process.cpuUsage(start).system) / 1000;
  const after = processCpuMs(process.pid)!;
  t.ok(x > 0 && after - before >= burnt - 20, `${burnt.toFixed(0)} ms of CPU shows up in /proc as ${after - before} ms`);
  t.equal(processCpuMs(2 ** 30), null, 'no such process');
});

t.test("the main thread's CPU time from /proc: its own, not another thread's", { skip: process.platform !== 'linux' ? 'reads /proc (Linux only)' : false }, async (t) => {
  const pid = process.pid;
  const main0 = processCpuMs(pid, pid)!;
  const all0 = processCpuMs(pid)!;
  // A worker burns 200 ms of its own CPU (its thread's cpuUsage) while this thread waits for it.
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads'); const s = process.cpuUsage(); let x = 0;
     while (process.cpuUsage(s).user + process.cpuUsage(s).system < 200000) x += Math.sqrt(x + 1);
     parentPort.postMessage((process.cpuUsage(s).user + process.cpuUsage(s).system) / 1000);`,
    { eval: true },
  );
  const burnt = await new Promise<number>((resolve) => worker.once('message', resolve));
  await worker.terminate();
  const main = processCpuMs(pid, pid)! - main0;
  const all = processCpuMs(pid)! - all0;
  t.ok(all >= main + burnt - 30, `the process's ${all} ms hold the worker's ${burnt.toFixed(0)} ms beside the main thread's ${main} ms`);
  t.ok(main < burnt / 2, `the main thread's ${main} ms leave the worker's out`);
  t.equal(processCpuMs(pid, 2 ** 30), null, 'no such thread');
});

t.test('option parsing', async (t) => {
  t.same(parseModes('none, parm, parm:4, equal-resources:3, parm:2').map((m) => m.label), ['none', 'parm k=2', 'parm k=4', 'equal-resources k=3']);
  t.throws(() => parseModes(''), /no mode/);
  t.throws(() => parseModes('none:2'), /bad k/);
  t.match(parseBackground('kind=contention,intensity=0.5,width=2', null), { kind: 'contention', intensity: 0.5, width: 2 });
  t.equal(parseBackground('off', null), null);
  t.throws(() => parseBackground('duty=2', null), /duty/);
  t.throws(() => parseBackground('speed=1', null), /unknown key/);
});

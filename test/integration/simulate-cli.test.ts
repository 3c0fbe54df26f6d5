// `parm simulate`'s validation flags as a process: --validate-frontend, --run-times and --main-thread are taken with
// --validate-from (and recorded in the model), and refused with a clear error without it; --validate-trials
// only with --validate.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const V1 = fileURLToPath(new URL('../fixtures/sim-validate-v1', import.meta.url));

const parm = (args: string[]) =>
  promisify(execFile)(process.execPath, [...process.execArgv, ENTRY, 'simulate', ...args], { maxBuffer: 16 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

t.test('--validate-frontend', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'parm-simulate-cli-'));
  const ok = await parm(['--validate-from', V1, '--validate-frontend', 'median', '--json', '--out', out]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as { model: { frontend: string } }).model.frontend, 'median', 'recorded in the model');
  const alone = await parm(['--validate-frontend', 'median', '--queries', '100', '--out', out]);
  t.not(alone.code, 0);
  t.match(alone.stderr, /--validate-frontend: only with --validate or --validate-from/);
  const wrong = await parm(['--validate-from', V1, '--validate-frontend', 'mean', '--out', out]);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /--validate-frontend.*mean.*(measured|choices)/s);
  t.equal((await parm(['--validate-from', V1, '--validate-frontend', 'whole', '--out', out])).code, 0, 'whole is a choice');
});

t.test('--run-times', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'parm-simulate-cli-'));
  const ok = await parm(['--validate-from', V1, '--run-times', 'process', '--json', '--out', out]);
  t.equal(ok.code, 0, ok.stderr);
  const record = JSON.parse(ok.stdout) as { model: { run_times: string }; calibration: { simulated: { run_time_window: string } }[] };
  t.equal(record.model.run_times, 'process', 'recorded in the model');
  t.ok(record.calibration.every((c) => c.simulated.run_time_window === 'process'), 'a record without the histogram: the whole life');
  const alone = await parm(['--run-times', 'measured', '--queries', '100', '--out', out]);
  t.not(alone.code, 0);
  t.match(alone.stderr, /--run-times: only with --validate or --validate-from/);
  const wrong = await parm(['--validate-from', V1, '--run-times', 'warm', '--out', out]);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /--run-times.*warm.*(measured|choices)/s);
});

t.test('--run-times sent and --main-thread measured: refused with the reason on a record without them', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'parm-simulate-cli-'));
  const sent = await parm(['--validate-from', V1, '--run-times', 'sent', '--out', out]);
  t.not(sent.code, 0);
  t.match(sent.stderr, /--run-times sent: the record of .* has no run-until-sent tables/);
  const measured = await parm(['--validate-from', V1, '--main-thread', 'measured', '--out', out]);
  t.not(measured.code, 0);
  t.match(measured.stderr, /--main-thread measured: the record of .* has no main-thread CPU/);
  const ok = await parm(['--validate-from', V1, '--main-thread', '0.1', '--json', '--out', out]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal((JSON.parse(ok.stdout) as { model: { main_thread_ms: number } }).model.main_thread_ms, 0.1, 'a number is recorded in the model');
  const wrong = await parm(['--validate-from', V1, '--main-thread', 'some', '--out', out]);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /--main-thread must be a number/);
});

t.test('--validate-trials: refused without --validate, and out of range', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'parm-simulate-cli-'));
  const from = await parm(['--validate-from', V1, '--validate-trials', '3', '--out', out]);
  t.not(from.code, 0);
  t.match(from.stderr, /--validate-trials: only with --validate \(--validate-from simulates the record's own trials\)/);
  const alone = await parm(['--validate-trials', '3', '--queries', '100', '--out', out]);
  t.not(alone.code, 0);
  t.match(alone.stderr, /--validate-trials: only with --validate/);
  const zero = await parm(['--validate', '--validate-trials', '0', '--out', out]);
  t.not(zero.code, 0);
  t.match(zero.stderr, /--validate-trials/);
});

// Engine option validation: defaults, one message format, unknown keys, decode policies and faults
// in every form they arrive (options objects, the CLI text, OIP request parameters).
import t from 'tap';
import { decodePolicyFromParameters, parseDecodePolicy, validateDecode } from '../../src/engine/decode-policy.js';
import { faultsFor, parseFaultSpec, validateFaults } from '../../src/engine/faults.js';
import { deployedInstanceCount, resolveOptions } from '../../src/engine/options.js';
import { closest } from '../../src/engine/validate.js';
import { fileURLToPath } from 'node:url';

// Only checked to exist: nothing is loaded in the unit tier.
const MLP = fileURLToPath(new URL('../fixtures/models/mlp.onnx', import.meta.url));

t.test('resolveOptions fills defaults', async (t) => {
  const o = resolveOptions({ name: 'm', deployedModel: MLP, parityModels: [{ path: MLP }], k: 3, instances: 4 });
  t.equal(o.mode, 'parm', 'parm when parity models are given');
  t.equal(o.parityInstances, 2, 'ceil(m / k) parity instances');
  t.same(o.parityModels[0]!.coefficients, [1, 1, 1]);
  t.same(o.decode, { kind: 'first' });
  t.equal(resolveOptions({ name: 'm', deployedModel: MLP }).mode, 'none');
});

t.test('resolveOptions errors name the field', async (t) => {
  const bad: [object, RegExp][] = [
    [{ k: 0 }, /^k: expected an integer/],
    [{ encoder: 'xor' }, /^encoder: expected one of sum, concat/],
    [{ decode: { kind: 'deadline' } }, /^decode\.waitMs/],
    [{ decode: { kind: 'deadline', waitMs: 2 ** 31 } }, /^decode\.waitMs: expected a number in \[0, 2147483647\]/],
    [{ faults: [{ kind: 'delay', instance: 'gpu-1', ms: 1 }] }, /^faults\[0\]\.instance/],
    [{ faults: [{ kind: 'contention', instance: '*', busyMs: 20, periodMs: 10 }] }, /^faults\[0\]\.busyMs/],
    [{ background: { seed: 1, kind: 'contention', width: 3, periodMs: 10, duty: 0.5, intensity: 0.5 } }, /^background\.width/],
    [{ batching: { maxBatch: 0, maxDelayMs: 1 } }, /^batching\.maxBatch/],
    [{ parityModels: [{ path: MLP }, { path: MLP }], encoder: 'concat' }, /concat encoder supports r = 1/],
    [{ name: '' }, /^name:/],
  ];
  for (const [patch, msg] of bad) {
    t.throws(() => resolveOptions({ name: 'm', deployedModel: MLP, ...patch }), { code: 'PARM_ERR_ENGINE_CONFIG', message: msg }, JSON.stringify(patch));
  }
});

t.test('misspelt options are errors that suggest the known key', async (t) => {
  const cases: [object, RegExp][] = [
    [{ instancez: 3 }, /^instancez: unknown option \(did you mean 'instances'\?\)/],
    [{ hangTimeoutMS: 10 }, /^hangTimeoutMS: unknown option \(did you mean 'hangTimeoutMs'\?\)/],
    [{ batchng: { maxBatch: 2, maxDelayMs: 1 } }, /did you mean 'batching'/],
    [{ batching: { maxBach: 2, maxDelayMs: 1 } }, /^batching\.maxBach: unknown option \(did you mean 'maxBatch'\?\)/],
    [{ parityModels: [{ path: MLP, coeficients: [1, 1] }] }, /^parityModels\[0\]\.coeficients: unknown option \(did you mean 'coefficients'\?\)/],
    [{ zzzzzzzz: 1 }, /^zzzzzzzz: unknown option; known: name, /],
  ];
  for (const [patch, msg] of cases) {
    t.throws(() => resolveOptions({ name: 'm', deployedModel: MLP, ...patch } as never), { code: 'PARM_ERR_ENGINE_CONFIG', message: msg }, JSON.stringify(patch));
  }
  t.equal(closest('grupWaitMs', ['groupWaitMs', 'k']), 'groupWaitMs');
  t.equal(closest('xyz', ['groupWaitMs', 'k']), undefined);
});

t.test('every mode with redundancy runs as many instances as parm', async (t) => {
  const base = { name: 'm', deployedModel: MLP, parityModels: [{ path: MLP }, { path: MLP, coefficients: [1, 2] }], k: 2, instances: 4 };
  const count = (mode: 'none' | 'equal-resources' | 'hedged' | 'parm'): number => deployedInstanceCount(resolveOptions({ ...base, mode }));
  // parm: 4 deployed + 2 rows x ceil(4 / 2) parity = 8 instances.
  t.same([count('none'), count('parm'), count('equal-resources'), count('hedged')], [4, 4, 8, 8]);
});

t.test('decode policies: options objects, CLI text and request parameters', async (t) => {
  t.same(validateDecode('d', undefined, { kind: 'first' }), { kind: 'first' });
  t.same(validateDecode('d', { kind: 'deadline', waitMs: 5 }, { kind: 'first' }), { kind: 'deadline', waitMs: 5 });
  t.throws(() => validateDecode('options.decode', { kind: 'later' }, { kind: 'first' }, 'PARM_ERR_ENGINE_INPUT'), { code: 'PARM_ERR_ENGINE_INPUT', message: /^options\.decode: expected/ });
  t.same(parseDecodePolicy('first'), { kind: 'first' });
  t.same(parseDecodePolicy('deadline:2.5'), { kind: 'deadline', waitMs: 2.5 });
  t.throws(() => parseDecodePolicy('deadline:-1'), { code: 'PARM_ERR_CLI_USAGE' });
  t.throws(() => parseDecodePolicy('deadline:99999999999'), { code: 'PARM_ERR_CLI_USAGE', message: /ms <= 2147483647/ });
  t.equal(decodePolicyFromParameters({}), undefined);
  t.same(decodePolicyFromParameters({ parm_deadline_ms: 20 }), { kind: 'deadline', waitMs: 20 }, 'a deadline alone implies deadline');
  t.same(decodePolicyFromParameters({ parm_decode: 'first' }), { kind: 'first' });
  const badParams: [Record<string, unknown>, RegExp][] = [
    [{ parm_decode: 'soon' }, /parm_decode must be "first" or "deadline"/],
    [{ parm_decode: 'deadline' }, /needs parm_deadline_ms/],
    [{ parm_decode: 'first', parm_deadline_ms: 3 }, /needs parm_decode "deadline"/],
    [{ parm_deadline_ms: 2147483648 }, /parm_deadline_ms must be a number in \[0, 2147483647\]/],
    [{ parm_deadline_ms: '5' }, /parm_deadline_ms must be a number/],
  ];
  for (const [p, msg] of badParams) t.throws(() => decodePolicyFromParameters(p), { code: 'PARM_ERR_SERVER_BAD_REQUEST', message: msg }, JSON.stringify(p));
});

t.test('faults: validation, the CLI text form, and which instance applies what', async (t) => {
  t.same(parseFaultSpec('delay:1:20:0.5'), { kind: 'delay', instance: '1', ms: 20, probability: 0.5 });
  t.same(parseFaultSpec('crash:parity-0:3'), { kind: 'crash', instance: 'parity-0', afterQueries: 3 });
  t.same(parseFaultSpec('hang:*'), { kind: 'hang', instance: '*' });
  t.same(parseFaultSpec('contention:deployed-1:5:20'), { kind: 'contention', instance: 'deployed-1', busyMs: 5, periodMs: 20 });
  for (const [spec, msg] of [
    ['delay:gpu:1', /instance must be/],
    ['delay:1', /expected delay:<instance>:<ms>/],
    ['delay:1:x', /ms must be a number >= 0/],
    ['crash:1:1.5', /after-n-queries must be an integer >= 0/],
    ['melt:1', /unknown fault 'melt'/],
  ] as const) {
    t.throws(() => parseFaultSpec(spec), { code: 'PARM_ERR_CLI_USAGE', message: msg }, spec);
  }
  const specs = validateFaults('faults', [
    { kind: 'delay', instance: '*', ms: 3 },
    { kind: 'hang', instance: 1 },
    { kind: 'crash', instance: 'parity-0', afterQueries: 2 },
  ]);
  t.same(faultsFor(specs, 'deployed-0', 'deployed'), [{ kind: 'delay', ms: 3, probability: 1, distribution: 'fixed' }], '* means every deployed instance');
  t.same(faultsFor(specs, 'deployed-1', 'deployed').map((f) => f.kind), ['delay', 'hang'], 'a bare number is a deployed index');
  t.same(faultsFor(specs, 'parity-0', 'parity'), [{ kind: 'crash', afterQueries: 2 }], '* does not reach parity instances');
});

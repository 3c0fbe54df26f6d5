// `parm serve` configuration: the config file (src/server/config.ts) with relative paths, the
// bundled shortcut and its validation, and the --fault SPEC syntax (src/engine/faults.ts, re-exported by src/server/fault-spec.ts).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadServeConfig } from '../../src/server/config.js';
import { parseFaultSpec } from '../../src/server/fault-spec.js';
import { outcome as message } from '../helpers/outcome.js';

t.test('--fault specs', async (t) => {
  t.same(parseFaultSpec('delay:deployed-0:200'), { kind: 'delay', instance: 'deployed-0', ms: 200 });
  t.same(parseFaultSpec('delay:1:50:0.25'), { kind: 'delay', instance: '1', ms: 50, probability: 0.25 });
  t.same(parseFaultSpec('crash:parity-0:100'), { kind: 'crash', instance: 'parity-0', afterQueries: 100 });
  t.same(parseFaultSpec('hang:*'), { kind: 'hang', instance: '*' });
  t.same(parseFaultSpec('contention:deployed-1:5:20'), { kind: 'contention', instance: 'deployed-1', busyMs: 5, periodMs: 20 });
  const bad: Array<[string, RegExp]> = [
    ['delay:deployed-0', /expected delay:<instance>:<ms>\[:<probability>\]/],
    ['delay:deployed-0:-5', /ms must be a number >= 0, got '-5'/],
    ['delay:deployed-0:5:1.5', /probability must be a number >= 0 <= 1, got '1.5'/],
    ['delay:gpu-0:5', /instance must be deployed-<i>, parity-<i>, a number \(deployed-<n>\) or \*, got 'gpu-0'/],
    ['crash:deployed-0:2.5', /after-n-queries must be an integer >= 0/],
    ['hang:deployed-0:3', /expected hang:<instance>/],
    ['explode:deployed-0', /unknown fault 'explode' \(delay, crash, hang, contention\)/],
  ];
  for (const [spec, re] of bad) t.match(message(() => parseFaultSpec(spec)), new RegExp(`^PARM_ERR_CLI_USAGE: --fault ${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*${re.source}`), spec);
});

t.test('config files: relative model paths, the bundled shortcut, validation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-config-'));
  const manifest = join(dir, 'models', 'manifest.json');
  mkdirSync(join(dir, 'models'));
  writeFileSync(
    manifest,
    JSON.stringify({
      version: 1,
      default: 'm',
      deployments: { m: { deployed: 'm/deployed.onnx', parity: [{ k: 2, encoder: 'sum', path: 'm/p2.onnx' }] } },
    }),
  );
  const file = join(dir, 'serve.json');
  writeFileSync(
    file,
    JSON.stringify({
      port: 0,
      limits: { maxBatch: 8 },
      deployments: [
        { name: 'a', deployedModel: 'models/a.onnx', parityModels: [{ path: 'p.onnx', coefficients: [1, 2] }], instances: 3 },
        { bundled: 'm', k: 2, mode: 'none', instances: 1 },
      ],
    }),
  );
  const cfg = loadServeConfig(file, manifest);
  t.equal(cfg.port, 0);
  t.same(cfg.limits, { maxBatch: 8 });
  t.equal(cfg.deployments[0]!.deployedModel, join(dir, 'models', 'a.onnx'), 'relative to the config file');
  t.same(cfg.deployments[0]!.parityModels, [{ path: join(dir, 'p.onnx'), coefficients: [1, 2] }]);
  t.equal(cfg.deployments[0]!.instances, 3);
  t.equal(cfg.deployments[1]!.name, 'm');
  t.equal(cfg.deployments[1]!.deployedModel, join(dir, 'models', 'm', 'deployed.onnx'));
  t.equal(cfg.deployments[1]!.mode, 'none', 'fields beside bundled override the manifest');
  t.notOk('bundled' in cfg.deployments[1]!);

  const cases: Array<[unknown, RegExp]> = [
    [{ deployments: [] }, /deployments must be a non-empty array/],
    [{ deployments: [{ name: 'x' }], extra: 1 }, /unknown key 'extra'/],
    [{ deployments: [{ name: 'x' }] }, /deployments\[0\]\.deployedModel must be a path/],
    [{ deployments: [{ bundled: 'nope' }] }, /no deployment 'nope'/],
    [{ deployments: [{ bundled: 'm', k: 3 }] }, /no parity model for k=3/],
    [{ port: 70000, deployments: [{ bundled: 'm' }] }, /port must be an integer in \[0, 65535\]/],
    [{ limits: { maxBatchh: 3 }, deployments: [{ bundled: 'm' }] }, /unknown limit 'maxBatchh'/],
    [{ limits: { idleTimeoutSec: 4 }, deployments: [{ bundled: 'm' }] }, /: limits\.idleTimeoutSec must be 0 \(off\) or in \[8, 960\], got 4/],
    [{ deployments: [{ bundled: 'm' }, { bundled: 'm' }] }, /two deployments are named 'm'/],
  ];
  for (const [body, re] of cases) {
    writeFileSync(file, JSON.stringify(body));
    t.match(message(() => loadServeConfig(file, manifest)), re);
  }
  writeFileSync(file, '{ not json');
  t.match(message(() => loadServeConfig(file, manifest)), /^PARM_ERR_SERVER_CONFIG: --config .*serve\.json: /);
});

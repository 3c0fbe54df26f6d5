// The serve config file names where a mistake is: a misspelt key at any level (top level, limits,
// a deployment, the bundled shortcut, nested engine options) is an error with the file, the path
// to the key and the closest known key; so is a bad engine option value.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadServeConfig } from '../../src/server/config.js';
import { outcome as message } from '../helpers/outcome.js';

const dir = mkdtempSync(join(tmpdir(), 'parm-config-keys-'));
const manifest = join(dir, 'models', 'manifest.json');
mkdirSync(join(dir, 'models', 'm'), { recursive: true });
// Empty stand-ins: the config is checked before any model is loaded.
for (const f of ['models/m/deployed.onnx', 'models/m/p2.onnx', 'a.onnx', 'p.onnx']) writeFileSync(join(dir, f), '');
writeFileSync(manifest, JSON.stringify({ version: 1, default: 'm', deployments: { m: { deployed: 'm/deployed.onnx', parity: [{ k: 2, encoder: 'sum', path: 'm/p2.onnx' }] } } }));
const file = join(dir, 'serve.json');
const explicit = { name: 'a', deployedModel: 'a.onnx', parityModels: [{ path: 'p.onnx' }] };

function load(config: unknown): string {
  writeFileSync(file, JSON.stringify(config));
  return message(() => loadServeConfig(file, manifest));
}

t.test('misspelt keys name the file, the path and the closest known key', async (t) => {
  const at = `PARM_ERR_SERVER_CONFIG: --config ${file}: `;
  const cases: Array<[unknown, string]> = [
    [{ deployments: [{ ...explicit, batchng: { maxBatch: 4, maxDelayMs: 1 } }] }, "deployments[0].batchng: unknown option (did you mean 'batching'?)"],
    [{ deployments: [{ ...explicit, hangTimeoutMS: 500 }] }, "deployments[0].hangTimeoutMS: unknown option (did you mean 'hangTimeoutMs'?)"],
    [{ deployments: [explicit, { bundled: 'm', batchng: { maxBatch: 4, maxDelayMs: 1 } }] }, "deployments[1].batchng: unknown option (did you mean 'batching'?)"],
    [{ deployments: [{ bundled: 'm', encodr: 'sum' }] }, "deployments[0].encodr: unknown option (did you mean 'encoder'?)"],
    [{ deployments: [{ bundeld: 'm' }] }, "deployments[0].bundeld: unknown option (did you mean 'bundled'?)"],
    [{ deployments: [{ ...explicit, batching: { maxBach: 4, maxDelayMs: 1 } }] }, "deployments[0].batching.maxBach: unknown option (did you mean 'maxBatch'?)"],
    [{ deployments: [{ ...explicit, parityModels: [{ path: 'p.onnx', coeficients: [1, 1] }] }] }, "deployments[0].parityModels[0].coeficients: unknown option (did you mean 'coefficients'?)"],
    [{ prot: 8000, deployments: [explicit] }, "prot: unknown option (did you mean 'port'?)"],
    [{ deployment: [explicit] }, "deployment: unknown option (did you mean 'deployments'?)"],
    [{ limits: { maxBodyByte: 4096 }, deployments: [explicit] }, "limits.maxBodyByte: unknown option (did you mean 'maxBodyBytes'?)"],
  ];
  for (const [config, expected] of cases) {
    const got = load(config);
    t.equal(got.slice(0, at.length + expected.length), at + expected, expected);
  }
});

t.test('engine option values are checked when the file is read, with where they are', async (t) => {
  t.match(load({ deployments: [{ ...explicit, instances: 0 }] }), /--config .*serve\.json: deployments\[0\]\.instances: expected an integer in \[1, \d+\] \(got 0\)$/);
  t.match(load({ deployments: [explicit, { bundled: 'm', hangTimeoutMs: 5 }] }), /: deployments\[1\]\.hangTimeoutMs: expected a number in \[10, 2147483647\] \(got 5\)$/);
  t.match(load({ deployments: [{ ...explicit, deployedModel: 'missing.onnx' }] }), /: deployments\[0\]\.deployedModel: no such file .*missing\.onnx/);
  t.equal(load({ deployments: [explicit, { bundled: 'm', hangTimeoutMs: 500, batching: { maxBatch: 4, maxDelayMs: 1 } }] }), 'no error', 'correct keys pass');
});

// The bearer-token check (src/server/auth.ts) every front calls: the right token in the RFC 6750
// form passes, anything else fails; token files are read without quoting the token.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { bearerCheck, isPublicPath, readTokenFile } from '../../src/server/auth.js';
import { outcome } from '../helpers/outcome.js';

t.test('checkBearer: only "Bearer <the token>" passes', async (t) => {
  const check = bearerCheck('s3cret-Token_1.x~y+z/w==');
  t.equal(check('Bearer s3cret-Token_1.x~y+z/w=='), true);
  t.equal(check('bearer s3cret-Token_1.x~y+z/w=='), true, 'the scheme in any case');
  t.equal(check('Bearer  s3cret-Token_1.x~y+z/w== '), true, 'surrounding spaces');
  for (const v of [undefined, '', 'Bearer', 'Bearer ', 'Bearer s3cret', 'Bearer s3cret-Token_1.x~y+z/w==X', 'Basic s3cret-Token_1.x~y+z/w==', 's3cret-Token_1.x~y+z/w==', 'Bearer s3cret-Token_1.x~y+z/w== extra']) {
    t.equal(check(v), false, JSON.stringify(v));
  }
  t.match(outcome(() => bearerCheck('has space')), /^PARM_ERR_SERVER_CONFIG: the auth token must be RFC 6750 token characters/);
  t.notMatch(outcome(() => bearerCheck('has space')), /has space/, 'the error does not quote the token');
});

t.test('token files: trimmed, and errors never quote the token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parm-token-'));
  writeFileSync(join(dir, 'ok'), 'abc123\n');
  t.equal(readTokenFile(join(dir, 'ok')), 'abc123');
  writeFileSync(join(dir, 'empty'), '\n');
  t.match(outcome(() => readTokenFile(join(dir, 'empty'))), /--auth-token-file .*empty: the file is empty/);
  writeFileSync(join(dir, 'bad'), 'two words\n');
  const bad = outcome(() => readTokenFile(join(dir, 'bad')));
  t.match(bad, /the token must be RFC 6750 token characters/);
  t.notMatch(bad, /two words/);
  t.match(outcome(() => readTokenFile(join(dir, 'missing'))), /--auth-token-file .*missing: ENOENT/);
});

t.test('health probes are the public paths', async (t) => {
  t.ok(isPublicPath('/v2/health/live'));
  t.ok(isPublicPath('/v2/health/ready'));
  for (const p of ['/v2', '/metrics', '/v2/models/m/ready', '/v2/health/live/x']) t.notOk(isPublicPath(p), p);
});

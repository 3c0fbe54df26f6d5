// The server's limits (src/server/limits.ts): one rule per limit, the same through the config
// file's partial `limits` and through a complete limits object, and the rules between limits.
import t from 'tap';
import { DEFAULT_LIMITS, checkLimits, limitProblem, parseLimits, resolveLimits } from '../../src/server/limits.js';
import { outcome as message } from '../helpers/outcome.js';

t.test('limits uWebSockets.js would abort on are refused first', async (t) => {
  t.match(message(() => checkLimits({ ...DEFAULT_LIMITS, idleTimeoutSec: 4 })), /^PARM_ERR_SERVER_CONFIG: limits\.idleTimeoutSec must be 0 \(off\) or in \[8, 960\], got 4/);
  t.match(message(() => checkLimits({ ...DEFAULT_LIMITS, idleTimeoutSec: 961 })), /idleTimeoutSec/);
  t.match(message(() => checkLimits({ ...DEFAULT_LIMITS, maxMessageBytes: 10 })), /maxMessageBytes must be in \[1024, 2\^30\]/);
  t.match(message(() => checkLimits({ ...DEFAULT_LIMITS, wsBackpressureBytes: 10, wsMaxBackpressureBytes: 5 })), /wsMaxBackpressureBytes must be >= wsBackpressureBytes/);
  t.match(message(() => checkLimits({ ...DEFAULT_LIMITS, maxBatch: Number.NaN })), /limits\.maxBatch must be a number >= 0, got null/);
  t.equal(checkLimits({ ...DEFAULT_LIMITS, idleTimeoutSec: 0 }).idleTimeoutSec, 0);
  t.same(resolveLimits({ maxBatch: 8 }), { ...DEFAULT_LIMITS, maxBatch: 8 }, 'defaults under what is given');
  t.match(message(() => resolveLimits({ maxInFlightPerConnection: 0 })), /maxInFlightPerConnection must be >= 1, got 0/);
});

t.test('the config file goes through the same rules, with where it came from', async (t) => {
  t.same(parseLimits({ maxBatch: 8 }, 'f'), { maxBatch: 8 }, 'only what the file sets');
  t.same(parseLimits(undefined, 'f'), {});
  t.match(message(() => parseLimits({ maxBodyBytes: -1 }, 'x')), /^PARM_ERR_SERVER_CONFIG: x: limits\.maxBodyBytes must be a number >= 0, got -1/);
  t.match(message(() => parseLimits({ maxBodyBytes: 100 }, 'x')), /x: limits\.maxBodyBytes must be >= 1024, got 100/);
  t.match(message(() => parseLimits({ idleTimeoutSec: 4 }, 'x')), /x: limits\.idleTimeoutSec must be 0 \(off\) or in \[8, 960\], got 4/);
  t.match(message(() => parseLimits({ toString: 1 }, 'x')), /unknown limit 'toString'/, 'inherited names are not limits');
  t.match(message(() => parseLimits([1], 'x')), /x: limits must be an object/);
  // One rule each: the partial and the complete path say the same about the same value.
  for (const [name, value] of [['idleTimeoutSec', 5], ['maxMessageBytes', 2 ** 31], ['maxBatch', 0], ['requestTimeoutMs', 'soon']] as const) {
    const problem = limitProblem(name, value);
    t.ok(problem, `${name} ${String(value)}: ${problem}`);
    t.equal(message(() => parseLimits({ [name]: value }, 'f')), `PARM_ERR_SERVER_CONFIG: f: limits.${name} ${problem}`);
    t.equal(message(() => checkLimits({ ...DEFAULT_LIMITS, [name]: value })), `PARM_ERR_SERVER_CONFIG: limits.${name} ${problem}`);
  }
  t.equal(limitProblem('maxBatch', 1), undefined);
});

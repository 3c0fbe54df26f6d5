// The native status names and the one error table agree: every PARM_ERR_CODEC_* name the core
// (native/src/common/status.cc) or the glue (bindings/) can put on an error is a code of
// src/errors.ts, each status has its own name, and every PARM_ERR_CODEC_* code of the table is one
// the native side produces. An out-of-memory status is no longer reported as an argument error.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { ERROR_CODES, httpStatusOf, ParmError } from '../../src/errors.js';
import { packageRoot } from '../../src/package-root.js';

const root = packageRoot();
const codecCodes = Object.keys(ERROR_CODES).filter((c) => c.startsWith('PARM_ERR_CODEC_'));

/** `case status_code::x: return "NAME";` pairs of status.cc. */
function statusNames(): Map<string, string> {
  const src = readFileSync(join(root, 'native/src/common/status.cc'), 'utf8');
  const names = new Map<string, string>();
  for (const m of src.matchAll(/case status_code::(\w+): return "([A-Z_]+)";/g)) names.set(m[1]!, m[2]!);
  return names;
}

t.test('every status code has its own PARM_ERR_CODEC_* name from the table', async (t) => {
  const header = readFileSync(join(root, 'native/include/parm/status.h'), 'utf8');
  const body = /enum class status_code : int \{([^}]*)\}/.exec(header)![1]!;
  const enumerators = [...body.matchAll(/^\s*(\w+)(?: = \d+)?,/gm)].map((m) => m[1]!);
  t.ok(enumerators.length >= 7, `status.h lists the status codes (${enumerators.join(', ')})`);
  const names = statusNames();
  t.same([...names.keys()].sort(), [...enumerators].sort(), 'status.cc names every enumerator of status.h');
  const errorNames = [...names.entries()].filter(([e]) => e !== 'ok').map(([, n]) => n);
  t.equal(new Set(errorNames).size, errorNames.length, `distinct names: ${errorNames.join(', ')}`);
  for (const n of errorNames) t.ok(n in ERROR_CODES, `${n} is in src/errors.ts`);
  t.equal(names.get('out_of_memory'), 'PARM_ERR_CODEC_OUT_OF_MEMORY');
  t.equal(names.get('invalid_argument'), 'PARM_ERR_CODEC_ARGUMENT');
});

t.test('every PARM_ERR_CODEC_* code of the table is produced by the native side', async (t) => {
  const produced = new Set(statusNames().values());
  for (const f of readdirSync(join(root, 'bindings'))) {
    for (const m of readFileSync(join(root, 'bindings', f), 'utf8').matchAll(/"(PARM_ERR_CODEC_\w+)"/g)) produced.add(m[1]!);
  }
  for (const c of codecCodes) t.ok(produced.has(c), `${c} is produced by native/ or bindings/`);
});

t.test('out of memory maps to 503, not to a 400 argument error', async (t) => {
  t.equal(httpStatusOf(new ParmError('PARM_ERR_CODEC_OUT_OF_MEMORY', 'x')), 503);
  t.equal(httpStatusOf(new ParmError('PARM_ERR_CODEC_ARGUMENT', 'x')), 400);
});

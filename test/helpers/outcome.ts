// What a call ended with, as tests compare it: a ParmError's "CODE: message", any other
// exception's "other Name: message", or "no error"; and the property-test predicate that only a
// value or a ParmError is an acceptable end.
import { ParmError } from '../../src/errors.js';

export function outcome(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof ParmError ? `${err.code}: ${err.message}` : `other ${(err as Error).name}: ${(err as Error).message}`;
  }
  return 'no error';
}

/** True when `fn` returns or throws a ParmError; any other exception propagates (and fails the property). */
export function valueOrParmError(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof ParmError) return true;
    throw err;
  }
}

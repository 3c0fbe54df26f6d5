// The package's library entry: `import { createEngine } from 'parm'`. The engine, its types,
// the error table and the coding kernels (as `codec`).
export * from './engine/index.js';
export { ERROR_CODES, ParmError, httpStatusOf, type ErrorCode } from './errors.js';
export * as codec from './codec/index.js';

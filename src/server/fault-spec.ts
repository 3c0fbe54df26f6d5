// The `--fault SPEC` text form of a fault, as the server package exports it: the engine owns the
// syntax (src/engine/faults.ts), so that the CLI, config checks and the engine read it one way.
export { FAULT_INSTANCE_PATTERN, parseFaultSpec } from '../engine/faults.js';

// Child-process entry of the load generator: receives one LoadOptions over IPC, runs it, sends
// back progress messages and the result, then exits. One process per generator and per run, so
// that nothing (JIT state, sockets, garbage) leaks from one run into the next.
import { runLoad, type LoadOptions } from './loadgen.js';

process.once('message', (msg: { type: 'run'; options: LoadOptions }) => {
  runLoad(msg.options, (p) => process.send?.({ type: 'progress', ...p }))
    .then((result) => process.send?.({ type: 'result', result }, () => process.exit(0)))
    .catch((err: Error) => process.send?.({ type: 'error', message: err.message }, () => process.exit(1)));
});

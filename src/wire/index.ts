// The wire module: what parm's server, client, benchmarks and tests all agree on. OIP message
// types (oip.ts) and the byte layouts of frames and bodies (frame.ts); it depends on nothing but
// the error table.
export * from './frame.js';
export * from './oip.js';

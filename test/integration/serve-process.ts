// `parm serve` as a child process for the CLI tests: the command line that runs the TypeScript
// entry point, a free port, and a server started and waited for until it is ready.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
/** The node arguments that run `parm ARGS` from source. */
export const node = (args: string[]) => [...process.execArgv, ENTRY, ...args];

/** A port free a moment ago (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Starts `parm serve` and resolves once it is ready: its base URL, stop() (SIGTERM) with what it wrote, and kill() (SIGKILL). */
export async function serving(args: string[], env: NodeJS.ProcessEnv = process.env, port = 0) {
  const child = spawn(process.execPath, node(['serve', '--port', String(port), '--no-grpc', ...args]), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stderr.on('data', (b) => (err += b));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b) => {
      out += b;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m && out.includes('parm: ready')) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`exited early: ${err}`)));
  });
  return {
    base,
    out: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return { code: await exited, out, err };
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}


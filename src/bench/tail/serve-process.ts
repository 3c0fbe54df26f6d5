// Starts and stops the `parm` processes of a benchmark run: `parm serve` with its JSON config
// (Contract 4) on port 0 and `parm worker`s, each spawned as a program (optionally inside a
// namespace host), ready once it printed `parm: ready`, stopped with SIGTERM (graceful shutdown).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParmError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import type { ServeConfigFile } from '../../server/config.js';
import { withServerNodeFlags } from '../../server/node-flags.js';

/**
 * The `parm` command line as a program, by path (.ts from source under tap's loader, .js in
 * dist/): the benchmark runs `parm serve` as a user would, without importing the CLI layer.
 */
const CLI_ENTRY = fileURLToPath(new URL(`../../cli/entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export interface RunningServer {
  /** http://HOST:PORT */
  baseUrl: string;
  port: number;
  /** Model name served (the first deployment's). */
  model: string;
  /** Deployed and parity instance counts, read from /metrics when the server exports them. */
  instances: { deployed: number; parity: number } | null;
  /** CPU time (ms, all threads: engine, instances, network) the server has used so far; null off Linux. */
  cpuMs(): number | null;
  /** CPU time (ms) of the server's main thread alone (its event loop: sockets, engine, messages); null off Linux. */
  mainThreadCpuMs(): number | null;
  stop(): Promise<void>;
}

/** Runs a command line in another place (a network namespace: NetnsCluster.argv). */
export type Wrap = (cmd: string, args: string[]) => [string, string[]];

export interface SpawnParmOptions {
  /** Arguments after `parm`: `['serve', '--config', FILE]`, `['worker', '--model', FILE]`. */
  args: string[];
  /** Where the process's output is logged (`<name>.log`). */
  workDir: string;
  name: string;
  /** Runs the process elsewhere, e.g. inside a namespace host. */
  wrap?: Wrap;
  /** Node flags before the entry (default: this process's, so a TypeScript loader carries on), with a parm server's own added (src/server/node-flags.ts). */
  execArgv?: string[];
  /** The CLI entry module to run (default: the one beside this module, .ts from source, .js from dist/). */
  entry?: string;
  readyTimeoutMs?: number;
}

/** A running `parm serve` or `parm worker`, after it printed `parm: ready`. */
export interface ParmProcess {
  child: ChildProcess;
  /** What it printed in `parm: listening on URL`. */
  url: string;
  port: number;
  /** The last 30 lines of its output (stdout and stderr). */
  tail(): string[];
  /** Called with every later output line. */
  onLine(fn: (line: string) => void): void;
  exited: Promise<void>;
  cpuMs(): number | null;
  /** The main thread's CPU time (ms; on Linux its thread id is the process id). */
  mainThreadCpuMs(): number | null;
  /** SIGTERM (graceful shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
}

/**
 * Spawns the `parm` command line and resolves once it printed `parm: listening on URL` and
 * `parm: ready`; rejects with its last output if it exits first or takes longer than the timeout.
 */
export async function spawnParm(opts: SpawnParmOptions): Promise<ParmProcess> {
  mkdirSync(opts.workDir, { recursive: true });
  const log = createWriteStream(join(opts.workDir, `${opts.name}.log`), { flags: 'a' });
  const argv: [string, string[]] = [process.execPath, [...withServerNodeFlags(opts.execArgv ?? process.execArgv), opts.entry ?? CLI_ENTRY, ...opts.args]];
  const [cmd, args] = opts.wrap ? opts.wrap(...argv) : argv;
  const child = spawn(cmd, args, {
    cwd: packageRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  const tail: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      log.write(chunk);
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        for (const fn of listeners) fn(line);
      }
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => log.end());
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (gone()) return exited;
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  let url = '';
  const ready = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(`not ready after ${timeoutMs} ms`), timeoutMs);
    listeners.push((line) => {
      const m = /^parm: listening on (\S+)$/.exec(line);
      if (m) url = m[1]!;
      if (line === 'parm: ready') {
        clearTimeout(timer);
        resolve(url === '' ? 'printed `parm: ready` before `parm: listening on URL`' : null);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(`exited (${child.signalCode ?? child.exitCode}) before it was ready`);
    });
  });
  listeners.length = 0;
  if (ready !== null) {
    await signal('SIGKILL', 0);
    throw new ParmError('PARM_ERR_CLI_USAGE', `parm ${opts.args[0]} (${opts.name}): ${ready}\n  log: ${join(opts.workDir, `${opts.name}.log`)}\n  last output:\n    ${tail.join('\n    ')}`);
  }
  return {
    child,
    url,
    port: parsePort(url) ?? 0,
    tail: () => tail.slice(),
    onLine: (fn) => void listeners.push(fn),
    exited,
    cpuMs: () => (child.pid === undefined ? null : processCpuMs(child.pid)),
    mainThreadCpuMs: () => (child.pid === undefined ? null : processCpuMs(child.pid, child.pid)),
    stop: (graceMs = 10_000) => signal('SIGTERM', graceMs),
    kill: () => signal('SIGKILL', 0),
  };
}

export interface SpawnServeOptions {
  config: ServeConfigFile;
  model: string;
  /** Where the config file and the server's log go. */
  workDir: string;
  name: string;
  /** Runs the server elsewhere (a namespace host); its address is then the config's host. */
  wrap?: Wrap;
  readyTimeoutMs?: number;
}

/** Finds the listening port in a line the server printed (plain text or a pino JSON log line). */
export function parsePort(line: string): number | null {
  const patterns = [/"port"\s*:\s*(\d{2,5})/, /\b(?:ws|http)s?:\/\/[^\s/:]+:(\d{2,5})/, /\bport\s*[=:]?\s*(\d{2,5})\b/i];
  for (const re of patterns) {
    const m = re.exec(line);
    if (m) {
      const port = Number(m[1]);
      if (port > 0 && port < 65536) return port;
    }
  }
  return null;
}

/** Parses Prometheus text for instance health series and counts deployed and parity instances. */
export function instancesFromMetrics(text: string): { deployed: number; parity: number } | null {
  const ids = new Set<string>();
  for (const m of text.matchAll(/instance="((?:deployed|parity)-\d+)"/g)) ids.add(m[1]!);
  if (ids.size === 0) return null;
  let deployed = 0;
  let parity = 0;
  for (const id of ids) if (id.startsWith('deployed-')) deployed++;
  else parity++;
  return { deployed, parity };
}

let clockTicks: number | null = null;

/** User + system CPU time (ms) of a process and all its threads, or of its thread `tid` alone, from /proc; null where there is none. */
export function processCpuMs(pid: number, tid?: number): number | null {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (clockTicks === null) {
      try {
        clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()) || 100;
      } catch {
        clockTicks = 100;
      }
    }
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/**
 * `parm serve --config FILE` on the config's host and port 0. The instance counts come from
 * /metrics where this process can reach the server (not inside a namespace host).
 */
export async function spawnParmServe(opts: SpawnServeOptions): Promise<RunningServer> {
  mkdirSync(opts.workDir, { recursive: true });
  const configPath = join(opts.workDir, `${opts.name}.json`);
  writeFileSync(configPath, `${JSON.stringify(opts.config, null, 2)}\n`);
  const host = opts.config.host ?? '127.0.0.1';
  const server = await spawnParm({
    args: ['serve', '--config', configPath, '--port', '0', '--grpc-port', 'off', '--host', host],
    workDir: opts.workDir,
    name: opts.name,
    wrap: opts.wrap,
    readyTimeoutMs: opts.readyTimeoutMs,
  });
  const baseUrl = `http://${host}:${server.port}`;
  let instances: RunningServer['instances'] = null;
  if (!opts.wrap) {
    try {
      const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) instances = instancesFromMetrics(await res.text());
    } catch {
      // metrics are optional for the benchmark
    }
  }
  return { baseUrl, port: server.port, model: opts.model, instances, cpuMs: server.cpuMs, mainThreadCpuMs: server.mainThreadCpuMs, stop: () => server.stop() };
}

export interface SpawnWorkerOptions {
  /** The ONNX file to serve. */
  model: string;
  /** Model name in its URL. */
  modelName: string;
  host: string;
  port: number;
  workDir: string;
  /** Log name (`<name>.log`, appended to when the worker is restarted). */
  name: string;
  wrap?: Wrap;
  /** The CLI entry and Node flags to run it with (default: as spawnParm's). */
  entry?: string;
  execArgv?: string[];
  readyTimeoutMs?: number;
}

/** `parm worker`: one model over OIP HTTP, no coding; its endpoint is `${url}/v2/models/${modelName}`. */
export function spawnParmWorker(opts: SpawnWorkerOptions): Promise<ParmProcess> {
  return spawnParm({
    args: ['worker', '--model', opts.model, '--name', opts.modelName, '--host', opts.host, '--port', String(opts.port), '--log-level', 'warn'],
    workDir: opts.workDir,
    name: opts.name,
    wrap: opts.wrap,
    entry: opts.entry,
    execArgv: opts.execArgv,
    readyTimeoutMs: opts.readyTimeoutMs,
  });
}

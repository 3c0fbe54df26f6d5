// Starts and stops one `parm serve` process per benchmark run: writes its JSON config (Contract 4),
// spawns the command line on port 0, reads the port it prints, waits for /v2/health/ready, and
// stops it with SIGTERM (the server's graceful shutdown) at the end of the run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParmError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import type { ServeConfigFile } from '../../server/config.js';

/**
 * The `parm` command line as a program, by path (.ts from source under tap's loader, .js in
 * dist/): the benchmark runs `parm serve` as a user would, without importing the CLI layer.
 */
const CLI_ENTRY = fileURLToPath(new URL(`../../cli/entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export interface RunningServer {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  port: number;
  /** Model name served (the first deployment's). */
  model: string;
  /** Deployed and parity instance counts, read from /metrics when the server exports them. */
  instances: { deployed: number; parity: number } | null;
  /** CPU time (ms, all threads: engine, instances, network) the server has used so far; null off Linux. */
  cpuMs(): number | null;
  stop(): Promise<void>;
}

export interface SpawnServeOptions {
  config: ServeConfigFile;
  model: string;
  /** Where the config file and the server's log go. */
  workDir: string;
  name: string;
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

async function waitReady(baseUrl: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error('server exited before it was ready');
    try {
      const res = await fetch(`${baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`server not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
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

/** User + system CPU time (ms) of a process and all its threads, from /proc; null where there is none. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
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

export async function spawnParmServe(opts: SpawnServeOptions): Promise<RunningServer> {
  mkdirSync(opts.workDir, { recursive: true });
  const configPath = join(opts.workDir, `${opts.name}.json`);
  writeFileSync(configPath, `${JSON.stringify(opts.config, null, 2)}\n`);
  const log = createWriteStream(join(opts.workDir, `${opts.name}.log`));
  // execArgv carries a loader (tap's, for .ts sources) on to the child.
  const child = spawn(process.execPath, [...process.execArgv, CLI_ENTRY, 'serve', '--config', configPath, '--port', '0', '--grpc-port', 'off', '--host', '127.0.0.1'], {
    cwd: packageRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  const tail: string[] = [];
  let onLine: (line: string) => void = () => {};
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      log.write(chunk);
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        onLine(line);
      }
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fail = async (why: string): Promise<never> => {
    child.kill('SIGKILL');
    await exited;
    log.end();
    throw new ParmError('PARM_ERR_CLI_USAGE', `parm serve (${opts.name}): ${why}\n  config: ${configPath}\n  last output:\n    ${tail.join('\n    ')}`);
  };

  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  const port = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    onLine = (line) => {
      const p = parsePort(line);
      if (p !== null) {
        clearTimeout(timer);
        onLine = () => {};
        resolve(p);
      }
    };
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
  if (port === null) return fail('did not print its port');
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitReady(baseUrl, child, timeoutMs);
  } catch (err) {
    return fail((err as Error).message);
  }
  let instances: RunningServer['instances'] = null;
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (res.ok) instances = instancesFromMetrics(await res.text());
  } catch {
    // metrics are optional for the benchmark
  }
  return {
    baseUrl,
    port,
    model: opts.model,
    instances,
    cpuMs: () => (child.pid === undefined ? null : processCpuMs(child.pid)),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}

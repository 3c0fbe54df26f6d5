// `parm serve`: serve deployments over OIP HTTP, the WebSocket stream and gRPC. With no --config
// it serves the bundled default deployment (models/manifest.json default, k = 2, sum encoder).
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { ParmError } from '../errors.js';
import { parseDecodePolicy } from '../engine/decode-policy.js';
import { ParmEngine } from '../engine/engine.js';
import { parseFaultSpec } from '../engine/faults.js';
import { bundledManifestPath, deploymentFromManifest, readManifest } from '../engine/manifest.js';
import type { DecodePolicy, EncoderKind, Engine, EngineOptions, FaultSpec, Mode } from '../engine/types.js';
import { startServer } from '../server/app.js';
import { loadServeConfig } from '../server/config.js';
import { DEFAULT_LIMITS, limitProblem, type ServerLimits } from '../server/limits.js';

export interface ServeFlags {
  host?: string;
  port?: number;
  config?: string;
  model?: string;
  mode?: Mode;
  k?: number;
  encoder?: EncoderKind;
  instances?: number;
  parityInstances?: number;
  isolation?: 'thread' | 'process';
  threads?: number;
  decode?: DecodePolicy;
  maxPending?: number;
  fault: FaultSpec[];
  maxBodyBytes?: number;
  maxMessageBytes?: number;
  maxBatch?: number;
  maxInFlight?: number;
  idleTimeout?: number;
  /** undefined: the default port. */
  grpcPort?: number | 'off';
  /** false with --no-grpc. */
  grpc: boolean;
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  dashboardControls?: boolean;
  logLevel: string;
}

/** Triton's gRPC port. */
const DEFAULT_GRPC_PORT = 8001;

function usage(message: string): never {
  throw new ParmError('PARM_ERR_CLI_USAGE', message);
}

const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
};

/** `--decode first|deadline:<ms>`: the command line's one reading of a decode policy. */
function parseDecode(v: string): DecodePolicy {
  return parseDecodePolicy(v, '--decode');
}

/** `--fault SPEC` (repeatable): the command line's one reading of a fault. */
function cliFault(v: string, prev: FaultSpec[]): FaultSpec[] {
  try {
    return [...prev, parseFaultSpec(v)];
  } catch (err) {
    return usage((err as Error).message);
  }
}

/** `--grpc-port <port|off>`: 0 picks a free port, `off` serves no gRPC. */
export function parseGrpcPort(v: string): number | 'off' {
  // Not null for off: commander turns a null from a parser into ''.
  return v === 'off' ? 'off' : int('--grpc-port', 0, 65535)(v);
}

/** The gRPC port (undefined: no gRPC) and TLS files from the flags; the files are read now, so that a wrong path fails before anything starts. */
export function grpcFlags(f: Pick<ServeFlags, 'grpc' | 'grpcPort' | 'grpcTlsCert' | 'grpcTlsKey'>): { grpcPort?: number; grpcTls?: { cert: Buffer; key: Buffer } } {
  const grpcPort = f.grpc === false || f.grpcPort === 'off' ? undefined : (f.grpcPort ?? DEFAULT_GRPC_PORT);
  const tls = grpcTls(f);
  if (tls && grpcPort === undefined) usage('--grpc-tls-cert and --grpc-tls-key need the gRPC port (drop --no-grpc / --grpc-port off)');
  return { ...(grpcPort !== undefined ? { grpcPort } : {}), ...(tls ? { grpcTls: tls } : {}) };
}

function grpcTls(f: Pick<ServeFlags, 'grpcTlsCert' | 'grpcTlsKey'>): { cert: Buffer; key: Buffer } | undefined {
  if (f.grpcTlsCert === undefined && f.grpcTlsKey === undefined) return undefined;
  if (f.grpcTlsCert === undefined || f.grpcTlsKey === undefined) usage('--grpc-tls-cert and --grpc-tls-key go together');
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      return usage(`${flag} ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read('--grpc-tls-cert', f.grpcTlsCert), key: read('--grpc-tls-key', f.grpcTlsKey) };
}

/** A flag that sets one server limit: an integer, then the limit's own rule (src/server/limits.ts). */
const limitFlag = (flag: string, name: keyof ServerLimits) => (v: string) => {
  const n = int(flag, 0)(v);
  const problem = limitProblem(name, n);
  if (problem) usage(`${flag} ${problem}`);
  return n;
};

/** Engine fields the command line sets, applied over every deployment (config file or bundled). */
function overrides(f: ServeFlags): Partial<EngineOptions> {
  const o: Partial<EngineOptions> = {};
  if (f.mode !== undefined) o.mode = f.mode;
  if (f.instances !== undefined) o.instances = f.instances;
  if (f.parityInstances !== undefined) o.parityInstances = f.parityInstances;
  if (f.isolation !== undefined) o.isolation = f.isolation;
  if (f.threads !== undefined) o.threadsPerSession = f.threads;
  if (f.decode !== undefined) o.decode = f.decode;
  if (f.maxPending !== undefined) o.maxPending = f.maxPending;
  return o;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve deployments over Open Inference Protocol v2 HTTP, a WebSocket stream and gRPC (docs/protocol.md). ' +
        'Without --config, serves the bundled default deployment (models/manifest.json) with k = 2 and the sum encoder. ' +
        'Engine flags (--mode, --k, --instances, --fault, ...) apply to every deployment and override the config file.',
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1, or the config file host)')
    .option('--port <port>', 'port to listen on; 0 picks a free one and prints it (default 8000, or the config file port)', int('--port', 0, 65535))
    .option('--grpc-port <port>', `OIP gRPC port; 0 picks a free one and prints it; 'off' serves no gRPC (default ${DEFAULT_GRPC_PORT})`, parseGrpcPort)
    .option('--no-grpc', 'serve no gRPC (the same as --grpc-port off)')
    .option('--grpc-tls-cert <file>', 'serve gRPC over TLS with this PEM certificate chain (with --grpc-tls-key)')
    .option('--grpc-tls-key <file>', 'PEM private key of --grpc-tls-cert')
    .option('--config <file>', 'JSON serve config: { host?, port?, limits?, deployments: [EngineOptions | { bundled, k?, encoder?, ... }] }; model paths relative to the file')
    .option('--model <name>', 'bundled deployment to serve when there is no --config (default: the manifest default)')
    .addOption(new Option('--mode <mode>', 'redundancy mode (default parm)').choices(['none', 'equal-resources', 'hedged', 'parm']))
    .option('--k <k>', 'coding group size for the bundled deployment (default 2)', int('--k', 1, 64))
    .addOption(new Option('--encoder <kind>', 'parity encoder for the bundled deployment (default sum)').choices(['sum', 'concat']))
    .option('--instances <n>', 'deployed-model instances (engine default if unset)', int('--instances', 1, 1024))
    .option('--parity-instances <n>', 'parity-model instances per parity row (default ceil(instances / k))', int('--parity-instances', 1, 1024))
    .addOption(new Option('--isolation <kind>', 'run instances in worker threads or child processes').choices(['thread', 'process']))
    .option('--threads <n>', 'onnxruntime intra-op threads per instance', int('--threads', 1, 256))
    .option('--decode <policy>', "default decode policy: 'first' or 'deadline:<ms>' (requests may override with parm_decode)", parseDecode)
    .option('--max-pending <n>', 'queries accepted and not answered per deployment before 503 overloaded', int('--max-pending', 1))
    .option(
      '--fault <spec>',
      'inject a fault (repeatable): delay:<instance>:<ms>[:<probability>], crash:<instance>:<after-n-queries>, hang:<instance>, ' +
        'contention:<instance>:<busy-ms>:<period-ms>; <instance> is deployed-<i>, parity-<i>, a number (deployed-<n>) or *',
      cliFault,
      [] as FaultSpec[],
    )
    .option('--max-body-bytes <n>', `largest HTTP request body, 413 beyond (default ${DEFAULT_LIMITS.maxBodyBytes})`, limitFlag('--max-body-bytes', 'maxBodyBytes'))
    .option('--max-message-bytes <n>', `largest WebSocket message, close 1009 beyond (default ${DEFAULT_LIMITS.maxMessageBytes})`, limitFlag('--max-message-bytes', 'maxMessageBytes'))
    .option('--max-batch <n>', `largest batch dimension per request (default ${DEFAULT_LIMITS.maxBatch})`, limitFlag('--max-batch', 'maxBatch'))
    .option('--max-in-flight <n>', `requests in flight per WebSocket connection (default ${DEFAULT_LIMITS.maxInFlightPerConnection})`, limitFlag('--max-in-flight', 'maxInFlightPerConnection'))
    .option(
      '--idle-timeout <s>',
      `seconds of WebSocket silence before closing, 0 (off) or 8..960; pings are sent automatically (default ${DEFAULT_LIMITS.idleTimeoutSec})`,
      limitFlag('--idle-timeout', 'idleTimeoutSec'),
    )
    .option('--dashboard-controls', 'allow the fault and load controls of the live page at /dashboard (off: the page only shows)')
    .addOption(
      new Option('--log-level <level>', 'JSON log lines on stderr at this level and above')
        .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
        .default('info'),
    )
    .action(async (flags: ServeFlags) => {
      await serve(flags);
    });
}

function deploymentsFrom(flags: ServeFlags): { deployments: EngineOptions[]; host?: string; port?: number; limits: Partial<ServerLimits> } {
  if (flags.config) {
    if (flags.model || flags.k !== undefined || flags.encoder) usage('--model, --k and --encoder pick the bundled deployment; with --config set them in the file');
    const cfg = loadServeConfig(flags.config);
    return { deployments: cfg.deployments, host: cfg.host, port: cfg.port, limits: cfg.limits ?? {} };
  }
  const manifest = bundledManifestPath();
  const name = flags.model ?? readManifest(manifest).default;
  return { deployments: [deploymentFromManifest(manifest, name, { k: flags.k ?? 2, encoder: flags.encoder ?? 'sum' })], limits: {} };
}

async function serve(flags: ServeFlags): Promise<void> {
  await runServe(flags, deploymentsFrom(flags));
}

/**
 * Serves `plan` (the deployments of a config, the bundled one, or `parm worker`'s one model) until
 * a signal: engines, the server, the two lines a script reads (`parm: listening on URL`,
 * `parm: ready`), graceful shutdown on SIGINT / SIGTERM.
 */
export async function runServe(flags: ServeFlags, plan: ReturnType<typeof deploymentsFrom>): Promise<void> {
  const log: Logger = pino({ level: flags.logLevel, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
  const over = overrides(flags);
  const limits: Partial<ServerLimits> = { ...plan.limits };
  if (flags.maxBodyBytes !== undefined) limits.maxBodyBytes = flags.maxBodyBytes;
  if (flags.maxMessageBytes !== undefined) limits.maxMessageBytes = flags.maxMessageBytes;
  if (flags.maxBatch !== undefined) limits.maxBatch = flags.maxBatch;
  if (flags.maxInFlight !== undefined) limits.maxInFlightPerConnection = flags.maxInFlight;
  if (flags.idleTimeout !== undefined) limits.idleTimeoutSec = flags.idleTimeout;

  const grpc = grpcFlags(flags);
  const makeEngine = (opts: EngineOptions): Engine => new ParmEngine(opts, { logger: log.child({ model: opts.name }) });
  const engines: Engine[] = [];
  try {
    for (const d of plan.deployments) {
      const faults = [...(d.faults ?? []), ...flags.fault];
      const opts: EngineOptions = { ...d, ...over, ...(faults.length ? { faults } : {}) };
      engines.push(makeEngine(opts));
    }
  } catch (err) {
    await Promise.allSettled(engines.map((e) => e.close()));
    throw err;
  }
  const server = await startServer({
    engines,
    host: flags.host ?? plan.host ?? '127.0.0.1',
    port: flags.port ?? plan.port ?? 8000,
    limits,
    logger: log,
    ...grpc,
    // A repository load after an unload starts the deployment again from the same options.
    engineFactory: makeEngine,
    dashboard: { controls: flags.dashboardControls ?? false },
  }).catch(async (err: unknown) => {
    await Promise.allSettled(engines.map((e) => e.close()));
    throw err;
  });

  const wsBase = server.url.replace(/^http/, 'ws');
  // Where to connect, on stdout (logs go to stderr): one line a script can parse, then the routes.
  process.stdout.write(`parm: listening on ${server.url}\n`);
  if (server.grpcUrl) process.stdout.write(`parm: listening on ${server.grpcUrl}\n`);
  for (const e of engines) {
    const o = e.options;
    const m = encodeURIComponent(o.name);
    process.stdout.write(
      `  ${o.name} (mode ${o.mode ?? 'parm'}, k=${o.k ?? 2}, ${o.encoder ?? 'sum'}): ` +
        `POST ${server.url}/v2/models/${m}/infer   WebSocket ${wsBase}/v2/models/${m}/infer/stream\n`,
    );
  }

  process.stdout.write(`  dashboard: ${server.url}/dashboard${flags.dashboardControls ? ' (controls on)' : ''}\n`);

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'signal received: shutting down');
    stopping = server.close().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  try {
    await Promise.all(engines.map((e) => e.ready()));
  } catch (err) {
    log.error({ err }, 'a deployment failed to load');
    await server.close();
    throw err instanceof ParmError ? err : new ParmError('PARM_ERR_ENGINE_MODEL', (err as Error).message);
  }
  log.info({ url: server.url }, 'ready: every instance has loaded');
  process.stdout.write(`parm: ready\n`);
  await new Promise<never>(() => {
    /* served until a signal; stop() exits the process */
  });
}

// `parm serve`: serve deployments over OIP HTTP, the WebSocket stream and gRPC. With no --config
// it serves the bundled default deployment (models/manifest.json default, k = 2, sum encoder).
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { ParmError } from '../errors.js';
import { usage } from './usage.js';
import { parseDecodePolicy } from '../engine/decode-policy.js';
import { ParmEngine } from '../engine/engine.js';
import { parseFaultSpec } from '../engine/faults.js';
import { bundledManifestPath, deploymentFromManifest, readManifest } from '../engine/manifest.js';
import type { BatchingOptions, DecodePolicy, EncoderKind, Engine, EngineOptions, FaultSpec, Mode } from '../engine/types.js';
import { checkListenable, startServer } from '../server/app.js';
import { AUTH_TOKEN_ENV, readTokenFile } from '../server/auth.js';
import { parseCorsOrigin } from '../server/cors.js';
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
  batch?: BatchingOptions;
  hangTimeout?: number;
  groupWait?: number;
  parityDefer?: number;
  partialGroup?: 'replicate' | 'unprotected';
  maxRetries?: number;
  parityRows?: number;
  fault: FaultSpec[];
  maxBodyBytes?: number;
  maxMessageBytes?: number;
  maxBatch?: number;
  maxInFlight?: number;
  maxQueuedBytes?: number;
  idleTimeout?: number;
  authTokenFile?: string;
  /** Repeatable; parm worker passes none. */
  cors?: string[];
  accessLog?: boolean;
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

const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
};

/** A number of milliseconds (its range is the engine option's, checked by the engine). */
const ms = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) usage(`${name} must be a number of milliseconds >= 0, got '${v}'`);
  return n;
};

/** `--batch <maxBatch>[:<maxDelayMs>]`: dynamic batching, waiting up to maxDelayMs (default 1) to fill a batch. */
function parseBatch(v: string): BatchingOptions {
  const m = /^(\d+)(?::(\d+(?:\.\d+)?))?$/.exec(v);
  if (!m || Number(m[1]) < 1) usage(`--batch must be <maxBatch>[:<maxDelayMs>] with maxBatch an integer >= 1 and maxDelayMs a number >= 0, got '${v}'`);
  return { maxBatch: Number(m[1]), maxDelayMs: m[2] === undefined ? 1 : Number(m[2]) };
}

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

/** `--cors ORIGIN` (repeatable): one origin, or `*`. */
function cliCors(v: string, prev: string[]): string[] {
  try {
    return [...prev, parseCorsOrigin(v)];
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

/**
 * Engine options the command line sets over every deployment (config file or bundled): the flag,
 * where commander puts its value, and the engine option it sets. The engine checks the values.
 */
const ENGINE_FLAGS: ReadonlyArray<readonly [flag: string, key: keyof ServeFlags, option: keyof EngineOptions]> = [
  ['--mode', 'mode', 'mode'],
  ['--instances', 'instances', 'instances'],
  ['--parity-instances', 'parityInstances', 'parityInstances'],
  ['--isolation', 'isolation', 'isolation'],
  ['--threads', 'threads', 'threadsPerSession'],
  ['--decode', 'decode', 'decode'],
  ['--max-pending', 'maxPending', 'maxPending'],
  ['--batch', 'batch', 'batching'],
  ['--hang-timeout', 'hangTimeout', 'hangTimeoutMs'],
  ['--group-wait', 'groupWait', 'groupWaitMs'],
  ['--parity-defer', 'parityDefer', 'parityDeferMs'],
  ['--partial-group', 'partialGroup', 'partialGroup'],
  ['--max-retries', 'maxRetries', 'maxRetries'],
];

function overrides(f: ServeFlags): Partial<EngineOptions> {
  const o: Record<string, unknown> = {};
  for (const [, key, option] of ENGINE_FLAGS) if (f[key] !== undefined) o[option] = f[key];
  return o as Partial<EngineOptions>;
}

/**
 * An engine option error caused by a flag, as a usage error naming the flag and its value
 * ("--hang-timeout 5: hangTimeoutMs: expected ..."); other errors unchanged. The config file's
 * deployments were checked when it was read, so an engine option error here comes from a flag.
 */
function blameFlag(err: unknown, f: ServeFlags): unknown {
  if (!(err instanceof ParmError) || err.code !== 'PARM_ERR_ENGINE_CONFIG') return err;
  const field = /^([A-Za-z]+)/.exec(err.message)?.[1];
  const entry = ENGINE_FLAGS.find(([, key, option]) => option === field && f[key] !== undefined);
  if (!entry) return err;
  const v = f[entry[1]];
  // The value in the flag's own text form.
  const given =
    typeof v === 'object' && v !== null && 'maxBatch' in v
      ? `${v.maxBatch}:${v.maxDelayMs}`
      : typeof v === 'object' && v !== null && 'kind' in v
        ? v.kind === 'deadline'
          ? `deadline:${v.waitMs}`
          : v.kind
        : String(v);
  return new ParmError('PARM_ERR_CLI_USAGE', `${entry[0]} ${given}: ${err.message}`, { cause: err });
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve deployments over Open Inference Protocol v2 HTTP, a WebSocket stream and gRPC (docs/protocol.md). ' +
        "Without --config, serves the bundled default deployment (models/manifest.json) with k = 2 and that deployment's encoder (--encoder to choose). " +
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
    .addOption(new Option('--encoder <kind>', "parity encoder for the bundled deployment (default: the deployment's own, models/manifest.json: concat for fashion-mnist-mlp, sum for fashion-mnist-cnn)").choices(['sum', 'concat']))
    .option('--instances <n>', 'deployed-model instances (engine default if unset)', int('--instances', 1, 1024))
    .option('--parity-instances <n>', 'parity-model instances per parity row (default ceil(instances / k))', int('--parity-instances', 1, 1024))
    .addOption(new Option('--isolation <kind>', 'run instances in worker threads or child processes').choices(['thread', 'process']))
    .option('--threads <n>', 'onnxruntime intra-op threads per instance', int('--threads', 1, 256))
    .option('--decode <policy>', "default decode policy: 'first' or 'deadline:<ms>' (requests may override with parm_decode)", parseDecode)
    .option('--max-pending <n>', 'queries accepted and not answered per deployment before 503 overloaded', int('--max-pending', 1))
    .option('--batch <maxBatch>[:<maxDelayMs>]', 'dynamic batching: up to maxBatch queries per instance run, waiting up to maxDelayMs (default 1) to fill one (engine batching; default off)', parseBatch)
    .option('--hang-timeout <ms>', 'declare an instance hung after this long without a heartbeat or result (engine hangTimeoutMs, >= 10; default adaptive: 20 x its worst recent run, at least 1000)', ms('--hang-timeout'))
    .option('--group-wait <ms>', 'how long a coding group may wait to fill before the partial-group policy applies (engine groupWaitMs, default 5)', ms('--group-wait'))
    .addOption(new Option('--partial-group <policy>', 'a group that did not fill in time: replicate its queries, or leave them unprotected (engine partialGroup, default replicate)').choices(['replicate', 'unprotected']))
    .option('--parity-defer <ms>', "run a group's parity only if a member is still unanswered this long after the group formed (engine parityDeferMs; 0: at once, as the paper; default adaptive: 3 x the median deployed run time, at least 1)", ms('--parity-defer'))
    .option('--max-retries <n>', 're-issues of a query after instance failures before it fails (engine maxRetries, default 3)', int('--max-retries', 0))
    .option('--parity-rows <n>', 'parity models (r) for the bundled deployment: the first n the manifest lists for its k and encoder (default all of them)', int('--parity-rows', 1, 64))
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
    .option('--max-in-flight <n>', `requests of one WebSocket connection running at once; more wait in its FIFO (default ${DEFAULT_LIMITS.maxInFlightPerConnection})`, limitFlag('--max-in-flight', 'maxInFlightPerConnection'))
    .option('--max-queued-bytes <n>', `message bytes one WebSocket connection may have waiting to start; more get an error answer (default ${DEFAULT_LIMITS.wsMaxQueuedBytes})`, limitFlag('--max-queued-bytes', 'wsMaxQueuedBytes'))
    .option(
      '--idle-timeout <s>',
      `seconds of WebSocket silence before closing, 0 (off) or 8..960; pings are sent automatically (default ${DEFAULT_LIMITS.idleTimeoutSec})`,
      limitFlag('--idle-timeout', 'idleTimeoutSec'),
    )
    .option(
      '--auth-token-file <file>',
      `require "Authorization: Bearer <token>" on HTTP and the WebSocket upgrade, health probes excepted; the token is the file's content (default: the ${AUTH_TOKEN_ENV} environment variable, if set)`,
    )
    .option(
      '--cors <origin>',
      'let browser pages from this origin (scheme://host[:port], repeatable, or * for any) call the HTTP API: preflights answered, Access-Control-* headers on answers',
      cliCors,
      [] as string[],
    )
    .option('--access-log', 'one JSON line on stderr per inference request (id, model, transport, status, outcome, latencyMs, reconstructed), whatever --log-level says')
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
    if (flags.model || flags.k !== undefined || flags.encoder || flags.parityRows !== undefined) {
      usage('--model, --k, --encoder and --parity-rows pick the bundled deployment; with --config set them in the file');
    }
    const cfg = loadServeConfig(flags.config);
    return { deployments: cfg.deployments, host: cfg.host, port: cfg.port, limits: cfg.limits ?? {} };
  }
  const manifest = bundledManifestPath();
  const name = flags.model ?? readManifest(manifest).default;
  const k = flags.k ?? 2;
  const d = deploymentFromManifest(manifest, name, { k, ...(flags.encoder ? { encoder: flags.encoder } : {}) });
  const encoder = d.encoder ?? 'sum';
  const listed = d.parityModels ?? [];
  if (flags.parityRows !== undefined) {
    if (flags.parityRows > listed.length) {
      usage(`--parity-rows ${flags.parityRows}: models/manifest.json lists ${listed.length} parity model${listed.length === 1 ? '' : 's'} for ${name} with k=${k}, encoder ${encoder}`);
    }
    d.parityModels = listed.slice(0, flags.parityRows);
  }
  return { deployments: [d], limits: {} };
}

/** The bearer token to require: --auth-token-file, else $PARM_AUTH_TOKEN; none when neither is given. Never printed. */
function authToken(flags: ServeFlags): string | undefined {
  if (flags.authTokenFile !== undefined) return readTokenFile(flags.authTokenFile);
  const env = process.env[AUTH_TOKEN_ENV];
  if (env === undefined) return undefined;
  if (env.trim() === '') usage(`${AUTH_TOKEN_ENV} is set but empty`);
  return env.trim();
}

async function serve(flags: ServeFlags): Promise<void> {
  await runServe(flags, deploymentsFrom(flags), authToken(flags));
}

/**
 * Serves `plan` (the deployments of a config, the bundled one, or `parm worker`'s one model) until
 * a signal: engines, the server, the two lines a script reads (`parm: listening on URL`,
 * `parm: ready`), graceful shutdown on SIGINT / SIGTERM. `token`: the bearer token to require
 * (parm serve's; a worker requires none, since the remote-instance client sends none).
 */
export async function runServe(flags: ServeFlags, plan: ReturnType<typeof deploymentsFrom>, token?: string): Promise<void> {
  const log: Logger = pino({ level: flags.logLevel, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
  const over = overrides(flags);
  const limits: Partial<ServerLimits> = { ...plan.limits };
  if (flags.maxBodyBytes !== undefined) limits.maxBodyBytes = flags.maxBodyBytes;
  if (flags.maxMessageBytes !== undefined) limits.maxMessageBytes = flags.maxMessageBytes;
  if (flags.maxBatch !== undefined) limits.maxBatch = flags.maxBatch;
  if (flags.maxInFlight !== undefined) limits.maxInFlightPerConnection = flags.maxInFlight;
  if (flags.maxQueuedBytes !== undefined) limits.wsMaxQueuedBytes = flags.maxQueuedBytes;
  if (flags.idleTimeout !== undefined) limits.idleTimeoutSec = flags.idleTimeout;

  const host = flags.host ?? plan.host ?? '127.0.0.1';
  const port = flags.port ?? plan.port ?? 8000;
  const grpc = grpcFlags(flags);
  // Fail before loading any model when a port is taken; startServer's exclusive bind decides.
  if (port !== 0) await checkListenable(host, port);
  if (grpc.grpcPort !== undefined && grpc.grpcPort !== 0) await checkListenable(host, grpc.grpcPort);
  const makeEngine = (opts: EngineOptions): Engine => new ParmEngine(opts, { logger: log.child({ model: opts.name }) });
  const engines: Engine[] = [];
  try {
    for (const d of plan.deployments) {
      const faults = [...(d.faults ?? []), ...flags.fault];
      const opts: EngineOptions = { ...d, ...over, ...(faults.length ? { faults } : {}) };
      engines.push(makeEngine(opts));
      log.info({ model: opts.name, options: opts }, 'deployment');
    }
  } catch (err) {
    await Promise.allSettled(engines.map((e) => e.close()));
    throw blameFlag(err, flags);
  }
  const server = await startServer({
    engines,
    host,
    port,
    limits,
    logger: log,
    authToken: token,
    cors: flags.cors ?? [],
    accessLog: flags.accessLog ?? false,
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
  if (token !== undefined) process.stdout.write(`  access: Authorization: Bearer <token> required (health probes excepted)\n`);
  if (flags.cors?.length) process.stdout.write(`  CORS: pages from ${flags.cors.join(', ')}\n`);
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

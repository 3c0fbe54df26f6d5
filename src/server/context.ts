// The state one running server shares across its routes (HTTP, WebSocket, gRPC): the deployments
// by name (as repository slots), the limits, metrics, statistics and log, whether it is draining
// and how many requests are in flight, and the one gate every inference passes on its way to an
// engine (admit, then run).
import type { Logger } from 'pino';
import { ParmError } from '../errors.js';
import { bearerCheck, type BearerCheck } from './auth.js';
import { CorsPolicy } from './cors.js';
import type { Engine, InferResult, ModelInfo } from '../engine/types.js';
import type { RequestId } from '../wire/index.js';
import type { ParsedInferRequest, ProtocolLimits } from './infer-request.js';
import type { ServerLimits } from './limits.js';
import { ABORTED_STATUS, ServerMetrics, type Outcome, type Transport } from './metrics.js';
import { ModelRepository, type EngineFactory } from './model-repository.js';
import { describeError, type DescribedError } from './replies.js';
import { StatisticsBook } from './statistics.js';

/** One inference request's end, as finish() records it. */
export interface RequestEnd {
  /** Deployment name; "" for an unknown model or version. */
  model: string;
  transport: Transport;
  /** The request's id, when it could be read. */
  id: RequestId | null | undefined;
  /** performance.now() when the request was received (HTTP: its body read; stream: its message). */
  t0: number;
  /** The answer's HTTP-equivalent status (200 for an answer). */
  status: number;
  reconstructed?: boolean;
  /** The answer reached the transport; false when the client had gone. */
  delivered: boolean;
}

/** What the context is built with beside the engines, limits and log (startServer's options). */
export interface ContextOptions {
  /** Builds a deployment's engine again after an unload (without it, load is refused). */
  factory?: EngineFactory | undefined;
  /** Require this bearer token (auth.ts); none: every client is admitted. */
  authToken?: string | undefined;
  /** Origins whose pages may call the HTTP API (`*` for any); none: no CORS headers, no preflight route. */
  cors?: readonly string[] | undefined;
  /** One JSON line per inference request on the log, whatever its level (`parm serve --access-log`). */
  accessLog?: boolean | undefined;
}

export class ServerContext {
  /** Engines by deployment name, fixed at start: each a slot that unload / load swap the engine in. */
  readonly engines: ReadonlyMap<string, Engine>;
  readonly repository: ModelRepository;
  readonly statistics = new StatisticsBook();
  readonly metrics: ServerMetrics;
  readonly limits: Readonly<ServerLimits>;
  /** What the request validator enforces (from `limits`). */
  readonly protocolLimits: ProtocolLimits;
  readonly log: Logger;
  /** A bearer token is required (on every route but the health probes). */
  readonly authRequired: boolean;
  /**
   * Whether an Authorization header value (or gRPC `authorization` metadata) carries the token;
   * always true when none is required. Constant time (auth.ts).
   */
  readonly checkBearer: BearerCheck;
  /** The CORS policy, when origins were given. */
  readonly cors: CorsPolicy | undefined;
  /** Where finish() writes the access log line, when it is on. */
  private readonly accessLog: Logger | undefined;
  /** Set once by close(); from then on no request is admitted and every HTTP reply closes its connection. */
  private drainingFlag = false;
  /** Requests admitted and not yet answered, both transports; changed only by begin() and end(). */
  private inFlight = 0;
  /** Set by whenIdle() while close() waits; called when inFlight reaches 0. */
  private onIdle: (() => void) | undefined;

  constructor(engines: readonly Engine[], limits: ServerLimits, log: Logger, access: ContextOptions = {}) {
    const byName = new Map<string, Engine>();
    for (const e of engines) {
      // Keyed by the deployment name: `info` (the same name) exists only once the engine has loaded.
      const name = e.options.name;
      if (byName.has(name)) throw new ParmError('PARM_ERR_SERVER_CONFIG', `two deployments are named '${name}'`);
      byName.set(name, e);
    }
    this.repository = new ModelRepository(byName, access.factory);
    this.engines = this.repository.slots;
    this.metrics = new ServerMetrics(this.engines);
    this.limits = limits;
    this.protocolLimits = { maxBatch: limits.maxBatch };
    this.log = log;
    this.authRequired = access.authToken !== undefined;
    this.checkBearer = access.authToken !== undefined ? bearerCheck(access.authToken) : () => true;
    this.cors = access.cors !== undefined && access.cors.length > 0 ? new CorsPolicy(access.cors) : undefined;
    // Its own level: --log-level warn silences the server's info lines, not the access log asked for.
    this.accessLog = access.accessLog ? log.child({}, { level: 'info' }) : undefined;
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Starts the drain: called once, by close(). */
  startDraining(): void {
    this.drainingFlag = true;
  }

  /** A request was admitted (HTTP: its body parsed; stream: accepted on its connection). */
  begin(t: Transport): void {
    this.inFlight++;
    const byTransport = this.metrics.inFlight;
    byTransport.set(t, (byTransport.get(t) ?? 0) + 1);
  }

  /** A request begun with begin() was answered or dropped. */
  end(t: Transport): void {
    this.inFlight--;
    const byTransport = this.metrics.inFlight;
    byTransport.set(t, byTransport.get(t)! - 1);
    if (this.inFlight === 0 && this.onIdle) this.onIdle();
  }

  /** Resolves when no request is in flight, or after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Server readiness: not draining, and every deployment not unloaded on request is ready. */
  ready(): boolean {
    return !this.drainingFlag && this.repository.allReady();
  }

  /** The engine's model description; it exists once the engine has loaded its instances. */
  infoOf(e: Engine): ModelInfo {
    const info = e.info as ModelInfo | undefined;
    if (!info) throw this.notReady(e);
    return info;
  }

  /** PARM_ERR_SERVER_NOT_READY with the deployment's reason (loading, unloaded, ...). */
  private notReady(e: Engine): ParmError {
    const reason = this.repository.slots.get(e.options.name)?.reason || 'loading';
    return new ParmError('PARM_ERR_SERVER_NOT_READY', `model '${e.options.name}' is not ready: ${reason}`);
  }

  /** Engine for a route, or a ParmError naming what is missing. */
  lookup(model: string, version: string | undefined): Engine {
    const e = this.engines.get(model);
    if (!e) throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown model '${model}'`);
    if (version !== undefined && version !== this.infoOf(e).version) {
      throw new ParmError('PARM_ERR_SERVER_NOT_FOUND', `unknown version '${version}' of model '${model}' (serving version '${this.infoOf(e).version}')`);
    }
    return e;
  }

  /**
   * The one draining and loading check of an inference request, made once, before it is parsed:
   * the server must not be draining and the engine must have loaded its models. Readiness for
   * traffic (isReady: some instance serving now) is not required: an accepted query waits for an
   * instance that is restarting rather than being refused. Returns the model to validate against.
   */
  admit(engine: Engine): ModelInfo {
    if (this.drainingFlag) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
    return this.infoOf(engine);
  }

  /** Records how an inference request ended, once per request: the metrics outcome and latency, and the access log line. */
  finish(e: RequestEnd): Outcome {
    const outcome: Outcome = !e.delivered ? 'aborted' : e.status === 200 ? 'success' : 'failure';
    const seconds = (performance.now() - e.t0) / 1000;
    if (outcome === 'aborted') this.metrics.aborted(e.model, e.transport);
    else if (outcome === 'failure') this.metrics.failure(e.model, e.transport, e.status);
    else this.metrics.success(e.model, e.transport, seconds, e.reconstructed ?? false);
    this.accessLog?.info(
      {
        id: e.id ?? null,
        model: e.model,
        transport: e.transport,
        status: outcome === 'aborted' ? ABORTED_STATUS : e.status,
        outcome,
        latencyMs: Math.round(seconds * 1e6) / 1e3,
        reconstructed: e.reconstructed ?? false,
      },
      'request',
    );
    return outcome;
  }

  /** Runs an admitted request on its engine; `signal` withdraws it (a gRPC client cancelled). Counted in the statistics. */
  run(engine: Engine, req: ParsedInferRequest, signal?: AbortSignal): Promise<InferResult> {
    // A single query goes in without its batch dimension (the engine's coding unit); a batch as is.
    const input = req.shape[0] === 1 ? req.data : { data: req.data, shape: req.shape };
    // The parsed tensor was made for this request alone: the engine keeps it rather than copying.
    const timeoutMs = req.timeoutMs ?? this.limits.requestTimeoutMs;
    const options = signal ? { decode: req.decode, timeoutMs, transferInput: true, signal } : { decode: req.decode, timeoutMs, transferInput: true };
    return this.statistics.observe(engine.options.name, req.shape[0]!, engine.infer(input, options));
  }

  /** Repository load or unload of a deployment (HTTP and gRPC); refused while draining. */
  control(model: string, action: 'load' | 'unload'): Promise<void> {
    if (this.drainingFlag) throw new ParmError('PARM_ERR_ENGINE_CLOSED', 'server is shutting down');
    const slot = this.repository.get(model);
    this.log.info({ model, action }, `repository: ${action}`);
    return action === 'load' ? slot.load() : slot.unload();
  }

  /** An error as the client will see it; unexpected ones are logged here, once. */
  describe(err: unknown, model: string, id?: RequestId | null): DescribedError {
    const d = describeError(err);
    if (d.unexpected) this.log.error({ err, model, id }, 'unexpected error');
    return d;
  }
}

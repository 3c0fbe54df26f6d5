// The dashboard's built-in load: N queries/s of bundled test images for T seconds, sent open loop
// (on a schedule, not waiting for answers) through the server's own WebSocket stream, so that
// they pass the same front, metrics and latency windows as any client's requests.
import { ParmClient } from '../client/index.js';
import type { ModelInfo } from '../engine/types.js';
import { bad, int, isRecord, num, rejectUnknownKeys } from '../engine/validate.js';
import { grayImages, readTestImages, type ImageSet } from './images.js';
import type { LoadStatus } from './snapshot.js';

export const MAX_LOAD_RATE = 2000;
export const MAX_LOAD_SECONDS = 600;
/** How often the schedule is checked; each check sends every query due by then. */
const TICK_MS = 10;

export interface LoadRequest {
  model: string;
  /** Queries per second. */
  rate: number;
  seconds: number;
}

/** Reads `POST /dashboard/load`'s body: `{ "model", "rate", "seconds" }`, errors naming the field. */
export function parseLoadRequest(body: unknown, models: ReadonlySet<string>): LoadRequest {
  const code = 'PARM_ERR_SERVER_BAD_REQUEST';
  if (!isRecord(body)) return bad('load request', 'expected a JSON object { model, rate, seconds }', body, code);
  rejectUnknownKeys('', body, ['model', 'rate', 'seconds'], code);
  if (typeof body.model !== 'string' || !models.has(body.model)) bad('model', `expected one of ${[...models].join(', ')}`, body.model, code);
  return {
    model: body.model as string,
    rate: num('rate', body.rate, NaN, 1, MAX_LOAD_RATE, code),
    seconds: int('seconds', body.seconds, NaN, 1, MAX_LOAD_SECONDS, code),
  };
}

/** The per-sample shape of a model's input (its shape without the batch dimension). */
export function sampleShape(info: ModelInfo): number[] {
  return info.inputs[0]!.shape.slice(1);
}

interface Run {
  request: LoadRequest;
  /** Set once connected; undefined again once closed. */
  client: ParmClient | undefined;
  status: LoadStatus;
  startedAt: number;
  timer: ReturnType<typeof setInterval> | undefined;
  /** Closes the connection a while after the run ended, once its answers are in. */
  closer: ReturnType<typeof setTimeout> | undefined;
  images: ImageSet;
  shape: number[];
}

/** How long a finished run's connection stays open for answers still in flight. */
const LINGER_MS = 30_000;

/** One load at a time for the whole server; starting another replaces it. */
export class LoadGenerator {
  private run: Run | undefined;
  /** The test set's images, being read or read (undefined inside: not installed). */
  private testSet: Promise<ImageSet | undefined> | undefined;

  constructor(
    /** The server's own base URL (known once it listens). */
    private readonly serverUrl: () => string,
    private readonly images: () => Promise<ImageSet | undefined> = readTestImages,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Starts reading the test images (off the event loop), so that a load starts at once later. */
  preload(): void {
    this.testSet ??= this.images();
  }

  /** The test images when they fit `elements` floats per query, else gray ones of that size. */
  private async imagesFor(elements: number): Promise<ImageSet> {
    this.preload();
    const ds = await this.testSet;
    if (ds && ds.elements === elements) return ds;
    return grayImages(elements, ds ? `the test set's ${ds.elements} floats per image do not fit the model's ${elements}` : 'no test set installed');
  }

  /** The current or last load, with its counts so far. */
  status(): LoadStatus | null {
    const r = this.run;
    if (!r) return null;
    if (r.status.running && r.timer) r.status.elapsedSec = Math.min(r.request.seconds, (this.now() - r.startedAt) / 1000);
    return { ...r.status };
  }

  /** Starts `request` against a loaded model (`info`), replacing any load in progress. */
  async start(request: LoadRequest, info: ModelInfo): Promise<LoadStatus> {
    const previous = this.run;
    if (previous) {
      this.finish(previous);
      void this.closeClient(previous);
    }
    const shape = sampleShape(info);
    const elements = shape.reduce((a, b) => a * b, 1);
    const images = await this.imagesFor(elements);
    const status: LoadStatus = {
      model: request.model,
      rate: request.rate,
      seconds: request.seconds,
      elapsedSec: 0,
      running: true,
      sent: 0,
      answered: 0,
      reconstructed: 0,
      errors: 0,
      source: images.source,
    };
    const r: Run = { request, client: undefined, status, startedAt: this.now(), timer: undefined, closer: undefined, images, shape: [1, ...shape] };
    this.run = r;
    let client: ParmClient;
    try {
      client = await ParmClient.connect({ url: this.serverUrl(), model: request.model, reconnect: false });
    } catch (err) {
      if (this.run === r) this.run = undefined;
      throw err;
    }
    if (this.run !== r || !r.status.running) {
      // Replaced, stopped or closed while connecting.
      await client.close();
      return { ...r.status };
    }
    r.client = client;
    r.startedAt = this.now();
    r.timer = setInterval(() => this.tick(r), TICK_MS);
    r.timer.unref();
    this.tick(r);
    return { ...r.status };
  }

  /** Stops sending; answers still in flight are counted as they arrive. */
  stop(): void {
    if (this.run) this.finish(this.run);
  }

  /** Stops and closes the connection (server shutdown). */
  async close(): Promise<void> {
    const r = this.run;
    if (!r) return;
    this.finish(r);
    await this.closeClient(r);
  }

  private finish(r: Run): void {
    if (!r.status.running) return;
    clearInterval(r.timer);
    r.status.running = false;
    if (r.timer) r.status.elapsedSec = Math.min(r.request.seconds, (this.now() - r.startedAt) / 1000);
    r.closer = setTimeout(() => void this.closeClient(r), LINGER_MS);
    r.closer.unref();
  }

  private async closeClient(r: Run): Promise<void> {
    clearTimeout(r.closer);
    const c = r.client;
    r.client = undefined;
    await c?.close();
  }

  /** Sends every query due by now: open loop, so a slow server does not slow the schedule. */
  private tick(r: Run): void {
    const elapsedMs = this.now() - r.startedAt;
    const endMs = r.request.seconds * 1000;
    const due = Math.floor((Math.min(elapsedMs, endMs) * r.request.rate) / 1000);
    const client = r.client;
    while (client && r.status.running && r.status.sent < due) {
      const i = r.status.sent++ % r.images.count;
      const x = r.images.data.subarray(i * r.images.elements, (i + 1) * r.images.elements);
      client.infer(x, { shape: r.shape }).then(
        (a) => {
          r.status.answered++;
          if (a.reconstructed) r.status.reconstructed++;
        },
        (err: Error) => {
          r.status.errors++;
          r.status.lastError = err.message;
        },
      );
    }
    if (elapsedMs >= endMs) this.finish(r);
  }
}

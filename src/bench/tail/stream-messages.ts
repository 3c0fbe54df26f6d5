// The tail benchmark's messages on the WebSocket stream (/v2/models/{m}/infer/stream): one OIP
// inference request per query, in text (JSON) or binary framing, and reading back the answer's
// id, logits, reconstructed flag and the engine's own latency. Messages and frames are the wire module's (src/wire/).
import {
  encodeFrame,
  fp32Bytes,
  fp32Input,
  isReconstructed,
  readMessage,
  readOutputTensor,
  type ErrorResponse,
  type InferRequest,
  type InferResponse,
} from '../../wire/index.js';

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';

/**
 * Shortest decimal text of each float32 pixel value k/255: the server parses it as a double and
 * rounds to float32, getting exactly Math.fround(k / 255), with a third of the bytes of k/255.
 */
const PIXEL_TEXT: string[] = Array.from({ length: 256 }, (_, k) => {
  const f = Math.fround(k / 255);
  for (let p = 1; p <= 9; p++) {
    const s = Number(f.toPrecision(p)).toString();
    if (Math.fround(Number(s)) === f) return s;
  }
  return f.toString();
});

/**
 * Text frame: the OIP JSON request for one image (pixels in [0, 1], each exactly k/255). Written
 * as a string directly: this runs once per query on the load generator's clock.
 */
export function jsonRequest(id: string, image: Float32Array, shape: readonly number[]): string {
  const parts = new Array<string>(image.length);
  for (let i = 0; i < image.length; i++) parts[i] = PIXEL_TEXT[Math.round(image[i]! * 255)]!;
  return (
    `{"id":${JSON.stringify(id)},"inputs":[{"name":"${INPUT_NAME}","shape":${JSON.stringify(shape)},` +
    `"datatype":"FP32","data":[${parts.join(',')}]}],"outputs":[{"name":"${OUTPUT_NAME}"}]}`
  );
}

/** Binary frame: the request header announcing the tensor's bytes, then the raw little-endian float32 image. */
export function binaryRequest(id: string, image: Float32Array, shape: readonly number[]): Uint8Array {
  const header: InferRequest = {
    id,
    inputs: [fp32Input(INPUT_NAME, shape, image, true)],
    outputs: [{ name: OUTPUT_NAME, parameters: { binary_data: true } }],
  };
  return encodeFrame(JSON.stringify(header), [fp32Bytes(image)]);
}

export interface Answer {
  id: string;
  /** Logits of the query, or null when the answer is an error. */
  logits: Float32Array | null;
  reconstructed: boolean;
  /** The engine's latency of this query (`parm_latency_ms`: from accepting it to its answer), ms; null where the answer has none. */
  engineMs: number | null;
  error?: string;
}

const encoder = new TextEncoder();

function bytesOf(frame: Uint8Array | ArrayBuffer | string): Uint8Array {
  if (typeof frame === 'string') return encoder.encode(frame);
  return frame instanceof Uint8Array ? frame : new Uint8Array(frame);
}

/** Reads one answer message (text or binary framing); throws on a message it cannot understand. */
export function parseAnswer(frame: Uint8Array | ArrayBuffer | string, isBinary: boolean): Answer {
  const { header, tensors } = readMessage(bytesOf(frame), isBinary);
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('answer is not a JSON object');
  const res = header as Partial<InferResponse> & Partial<ErrorResponse>;
  const id = res.id === undefined || res.id === null ? '' : String(res.id);
  if (res.error !== undefined) return { id, logits: null, reconstructed: false, engineMs: null, error: String(res.error) };
  const read = readOutputTensor(res, tensors, OUTPUT_NAME);
  if (!read) throw new Error(`answer ${id}: no outputs`);
  const logits = read.data;
  const engine = res.parameters?.['parm_latency_ms'];
  const engineMs = typeof engine === 'number' && Number.isFinite(engine) && engine >= 0 ? engine : null;
  return { id, logits, reconstructed: isReconstructed(res, read.output), engineMs, ...(logits.length === 0 ? { error: 'empty logits' } : {}) };
}

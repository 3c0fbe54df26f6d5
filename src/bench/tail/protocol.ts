// The client side of the WebSocket streaming protocol (/v2/models/{m}/infer/stream) as the tail
// benchmark speaks it: building one OIP inference request per query, in text (JSON) or binary
// framing, and reading back the answer's id, logits and reconstructed flag.

export type Framing = 'json' | 'binary';

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

/** Text frame: the OIP JSON request for one image (pixels in [0, 1], each exactly k/255). */
export function jsonRequest(id: string, image: Float32Array, shape: readonly number[]): string {
  const parts = new Array<string>(image.length);
  for (let i = 0; i < image.length; i++) parts[i] = PIXEL_TEXT[Math.round(image[i]! * 255)]!;
  return (
    `{"id":${JSON.stringify(id)},"inputs":[{"name":"${INPUT_NAME}","shape":${JSON.stringify(shape)},` +
    `"datatype":"FP32","data":[${parts.join(',')}]}],"outputs":[{"name":"${OUTPUT_NAME}"}]}`
  );
}

/**
 * Binary frame: 4-byte little-endian length of the JSON header, the header, then the raw
 * little-endian float32 tensor bytes (Triton's binary tensor extension).
 */
export function binaryRequest(id: string, image: Float32Array, shape: readonly number[]): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      id,
      inputs: [{ name: INPUT_NAME, shape, datatype: 'FP32', parameters: { binary_data_size: image.byteLength } }],
      outputs: [{ name: OUTPUT_NAME, parameters: { binary_data: true } }],
    }),
  );
  const frame = Buffer.allocUnsafe(4 + header.length + image.byteLength);
  frame.writeUInt32LE(header.length, 0);
  header.copy(frame, 4);
  Buffer.from(image.buffer, image.byteOffset, image.byteLength).copy(frame, 4 + header.length);
  return frame;
}

export interface Answer {
  id: string;
  /** Logits of the query, or null when the answer is an error. */
  logits: Float32Array | null;
  reconstructed: boolean;
  error?: string;
}

interface OipOutput {
  name?: string;
  data?: unknown;
  parameters?: Record<string, unknown>;
}
interface OipResponse {
  id?: unknown;
  error?: unknown;
  outputs?: OipOutput[];
  parameters?: Record<string, unknown>;
}

function flatNumbers(data: unknown, into: number[]): void {
  if (Array.isArray(data)) for (const d of data) flatNumbers(d, into);
  else if (typeof data === 'number') into.push(data);
}

function isReconstructed(res: OipResponse, out: OipOutput | undefined): boolean {
  return res.parameters?.['parm_reconstructed'] === true || out?.parameters?.['parm_reconstructed'] === true;
}

/** Reads one answer frame (text or binary framing); throws on a frame it cannot understand. */
export function parseAnswer(frame: Buffer | ArrayBuffer | Buffer[] | string, isBinary: boolean): Answer {
  let res: OipResponse;
  let tail: Buffer | null = null;
  if (isBinary) {
    const buf = Array.isArray(frame) ? Buffer.concat(frame) : Buffer.isBuffer(frame) ? frame : typeof frame === 'string' ? Buffer.from(frame) : Buffer.from(frame);
    const len = buf.readUInt32LE(0);
    if (4 + len > buf.length) throw new Error(`binary answer: header length ${len} beyond frame of ${buf.length} bytes`);
    res = JSON.parse(buf.subarray(4, 4 + len).toString('utf8')) as OipResponse;
    tail = buf.subarray(4 + len);
  } else {
    const text = typeof frame === 'string' ? frame : Array.isArray(frame) ? Buffer.concat(frame).toString('utf8') : Buffer.from(frame as ArrayBuffer).toString('utf8');
    res = JSON.parse(text) as OipResponse;
  }
  const id = res.id === undefined || res.id === null ? '' : String(res.id);
  if (res.error !== undefined) return { id, logits: null, reconstructed: false, error: String(res.error) };
  const outputs = res.outputs ?? [];
  const out = outputs.find((o) => o.name === OUTPUT_NAME) ?? outputs[0];
  if (!out) throw new Error(`answer ${id}: no outputs`);
  let logits: Float32Array;
  const size = out.parameters?.['binary_data_size'];
  if (typeof size === 'number' && tail) {
    // Outputs in binary are laid out in order; the logits are the first binary one here.
    let offset = 0;
    for (const o of outputs) {
      if (o === out) break;
      const s = o.parameters?.['binary_data_size'];
      if (typeof s === 'number') offset += s;
    }
    const bytes = Buffer.from(tail.subarray(offset, offset + size));
    logits = new Float32Array(bytes.buffer, bytes.byteOffset, size / 4);
  } else {
    const nums: number[] = [];
    flatNumbers(out.data, nums);
    logits = Float32Array.from(nums);
  }
  return { id, logits, reconstructed: isReconstructed(res, out), ...(logits.length === 0 ? { error: 'empty logits' } : {}) };
}

/** Index of the largest logit (the predicted class); -1 for an empty vector. */
export function argmax(v: ArrayLike<number>): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i]! > bestValue) {
      bestValue = v[i]!;
      best = i;
    }
  }
  return best;
}

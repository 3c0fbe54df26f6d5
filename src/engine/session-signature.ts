// The tensor signature of an onnxruntime session as an instance reports it to the engine: each
// input and output's name, shape (dynamic dimensions as -1) and element type.
import type * as ort from 'onnxruntime-node';
import type { ModelSignature } from './instance.js';
import type { TensorMeta } from './instance-messages.js';

export function tensorMeta(list: readonly ort.InferenceSession.ValueMetadata[]): TensorMeta[] {
  return list.map((m) => {
    const shape = m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) : [];
    return { name: m.name, shape, type: m.isTensor ? String(m.type) : 'non-tensor' };
  });
}

export function sessionSignature(s: ort.InferenceSession): ModelSignature {
  return { inputs: tensorMeta(s.inputMetadata), outputs: tensorMeta(s.outputMetadata) };
}

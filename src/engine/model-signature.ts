// The deployment's tensor signature, checked once when the instances have loaded: one float32
// input with a dynamic batch dimension, one float32 output, parity models with the same shapes.
import { ParmError } from '../errors.js';
import type { ModelSignature } from './instance.js';
import type { ResolvedOptions } from './options.js';
import type { ModelInfo } from './types.js';

/** Shapes the engine codes with; fixed for the engine's lifetime once its models have loaded. */
export interface ModelShape {
  info: ModelInfo;
  /** One query's input shape, e.g. [1, 28, 28]. */
  sample: number[];
  /** One query's output shape, e.g. [10]. */
  output: number[];
  /** Floats per input sample and per output sample. */
  elements: number;
  outElements: number;
}

const same = (a: readonly number[] | undefined, b: readonly number[]): boolean => !!a && a.length === b.length && a.every((x, i) => x === b[i]);

/** `deployed` from one deployed instance, `parity[row]` from one instance of each parity row. */
export function checkSignatures(o: ResolvedOptions, deployed: ModelSignature, parity: readonly ModelSignature[]): ModelShape {
  const where = o.deployedModel ?? o.deployedBackends?.[0]?.url ?? o.name;
  const inp = deployed.inputs[0];
  const out = deployed.outputs[0];
  if (!inp || !out) throw new ParmError('PARM_ERR_ENGINE_MODEL', `${where}: the model needs one input and one output`);
  if (inp.type !== 'float32' || out.type !== 'float32') {
    throw new ParmError('PARM_ERR_ENGINE_MODEL', `${where}: input and output must be float32 (got ${inp.type}, ${out.type})`);
  }
  const sample = inp.shape.slice(1);
  const output = out.shape.slice(1);
  if (inp.shape[0] !== -1 || sample.some((x) => x < 1) || output.some((x) => x < 1)) {
    throw new ParmError('PARM_ERR_ENGINE_MODEL', `${where}: expected a dynamic batch dimension and fixed others (input [${inp.shape}], output [${out.shape}])`);
  }
  parity.forEach((p, row) => {
    if (!same(p.inputs[0]?.shape, inp.shape) || !same(p.outputs[0]?.shape, out.shape)) {
      throw new ParmError('PARM_ERR_ENGINE_CONFIG', `parityModels[${row}]: its input/output shapes must equal the deployed model's ([${inp.shape}] -> [${out.shape}])`);
    }
  });
  if (o.mode === 'parm' && o.encoder === 'concat' && sample.length !== 3) {
    throw new ParmError('PARM_ERR_ENGINE_CONFIG', `encoder: concat needs an image input [-1, C, H, W], got [${inp.shape}]`);
  }
  return {
    info: {
      name: o.name,
      version: o.version,
      platform: 'onnxruntime_onnx',
      inputs: [{ name: inp.name, datatype: 'FP32', shape: inp.shape }],
      outputs: [{ name: out.name, datatype: 'FP32', shape: out.shape }],
    },
    sample,
    output,
    elements: sample.reduce((a, b) => a * b, 1),
    outElements: output.reduce((a, b) => a * b, 1),
  };
}

// What the server says about itself and its models, the same over HTTP and gRPC: OIP server
// metadata (name, version, the extensions it serves) and model metadata built from ModelInfo.
import type { ModelInfo, ModelTensorInfo } from '../engine/types.js';

export const SERVER_NAME = 'parm';
export const SERVER_VERSION = '0.1.0';
/** OIP / Triton extensions (docs/protocol.md says what each covers). */
export const EXTENSIONS: readonly string[] = ['binary_tensor_data', 'model_repository', 'parm_reconstruction', 'parm_stream', 'statistics'];

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: SERVER_NAME, version: SERVER_VERSION, extensions: [...EXTENSIONS] };
}

export function modelMetadata(i: ModelInfo): ModelMetadata {
  const tensor = (t: ModelTensorInfo): TensorMetadata => ({ name: t.name, datatype: t.datatype, shape: t.shape });
  return { name: i.name, versions: [i.version], platform: i.platform, inputs: i.inputs.map(tensor), outputs: i.outputs.map(tensor) };
}

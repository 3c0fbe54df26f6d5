// The gRPC service definition, loaded at run time from proto/grpc_service.proto with
// @grpc/proto-loader (no code generation), and the message shapes the handlers see with the
// loader options used here (field names as in the .proto, 64-bit integers as decimal strings,
// defaults filled in, the set member of a oneof named in `parameter_choice`).
import { join } from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { packageRoot } from '../package-root.js';

/** The .proto parm serves (KServe's service plus the Triton RPCs it implements). */
export function protoFile(): string {
  return join(packageRoot(), 'proto', 'grpc_service.proto');
}

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

let cached: ServiceDefinition | undefined;

/** `inference.GRPCInferenceService`, loaded once. */
export function inferenceService(): ServiceDefinition {
  cached ??= loadSync(protoFile(), LOADER_OPTIONS)['inference.GRPCInferenceService'] as ServiceDefinition;
  return cached;
}

/** One InferParameter as decoded: exactly one of the value fields, named by `parameter_choice`. */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  /** Decimal string (loader option longs: String). */
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

export type ParameterMap = Record<string, InferParameter>;

export interface InferTensorContents {
  fp32_contents?: number[];
  [other: string]: unknown;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: ParameterMap;
  inputs: { name: string; datatype: string; shape: string[]; parameters: ParameterMap; contents: InferTensorContents | null }[];
  outputs: { name: string; parameters: ParameterMap }[];
  raw_input_contents: Buffer[];
}

/** What a handler answers; the serializer accepts numbers for 64-bit fields. */
export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  outputs: { name: string; datatype: string; shape: number[]; parameters: Record<string, InferParameter>; contents?: { fp32_contents: number[] } }[];
  raw_output_contents: Uint8Array[];
}

// The one table of parm error codes, the error class every layer throws, and how each code maps
// to an HTTP status (the WebSocket front sends the same message in an `error` field).
// Add a code here, never inline; keep the table sorted by area.

export const ERROR_CODES = {
  // Native coding kernels (bindings/ raises these with the same names).
  PARM_ERR_CODEC_ARGUMENT: { http: 400, summary: 'invalid argument to a coding kernel' },
  PARM_ERR_CODEC_SINGULAR: { http: 400, summary: 'the chosen erasures leave a singular system' },
  PARM_ERR_CODEC_UNSUPPORTED: { http: 400, summary: 'operation not supported by this build' },
  PARM_ERR_CODEC_CUDA: { http: 500, summary: 'CUDA error' },
  PARM_ERR_CODEC_NO_DEVICE: { http: 503, summary: 'no CUDA device' },
  PARM_ERR_CODEC_OUT_OF_MEMORY: { http: 503, summary: 'host or device memory for a coding kernel could not be allocated' },
  // Engine.
  PARM_ERR_ENGINE_CONFIG: { http: 400, summary: 'invalid engine configuration' },
  PARM_ERR_ENGINE_INPUT: { http: 400, summary: 'invalid input tensor' },
  PARM_ERR_ENGINE_NOT_READY: { http: 503, summary: 'engine not ready' },
  PARM_ERR_ENGINE_OVERLOADED: { http: 503, summary: 'too many pending queries' },
  PARM_ERR_ENGINE_CLOSED: { http: 503, summary: 'engine is shutting down' },
  PARM_ERR_ENGINE_TIMEOUT: { http: 504, summary: 'no answer within the deadline' },
  // 499: the caller gave up (nginx's "client closed request"); no answer is sent for it.
  PARM_ERR_ENGINE_CANCELLED: { http: 499, summary: 'the caller cancelled the query' },
  PARM_ERR_ENGINE_INSTANCE: { http: 500, summary: 'instance failed and the query could not be recovered' },
  PARM_ERR_ENGINE_MODEL: { http: 500, summary: 'model failed to load or run' },
  // Network front.
  PARM_ERR_SERVER_BAD_REQUEST: { http: 400, summary: 'malformed request' },
  PARM_ERR_SERVER_NOT_FOUND: { http: 404, summary: 'unknown model, version or route' },
  PARM_ERR_SERVER_METHOD: { http: 405, summary: 'method not allowed' },
  PARM_ERR_SERVER_TOO_LARGE: { http: 413, summary: 'request too large' },
  PARM_ERR_SERVER_OVERLOADED: { http: 503, summary: 'server overloaded' },
  PARM_ERR_SERVER_NOT_READY: { http: 503, summary: 'server not ready' },
  PARM_ERR_SERVER_PROTOCOL: { http: 400, summary: 'WebSocket framing violation (the connection is closed)' },
  PARM_ERR_SERVER_CONFIG: { http: 400, summary: 'invalid serve configuration' },
  PARM_ERR_SERVER_FORBIDDEN: { http: 403, summary: 'action not enabled on this server' },
  // Command line and training.
  PARM_ERR_CLI_USAGE: { http: 400, summary: 'invalid command-line usage' },
  PARM_ERR_TRAIN_INPUT: { http: 400, summary: 'invalid training input' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ParmError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ParmError';
    this.code = code;
  }
}

/** HTTP status for an error: its code's status, 500 for anything unexpected. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof ParmError) return ERROR_CODES[err.code].http;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in ERROR_CODES) return ERROR_CODES[code as ErrorCode].http;
  return 500;
}

/**
 * gRPC status codes (the numbers of grpc/status.h, so this table needs no gRPC import) by the
 * HTTP status of the error's code; overload is RESOURCE_EXHAUSTED rather than UNAVAILABLE.
 */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const GRPC_BY_HTTP: Readonly<Record<number, number>> = {
  400: GRPC_STATUS.INVALID_ARGUMENT,
  401: GRPC_STATUS.UNAUTHENTICATED,
  404: GRPC_STATUS.NOT_FOUND,
  405: GRPC_STATUS.UNIMPLEMENTED,
  413: GRPC_STATUS.RESOURCE_EXHAUSTED,
  499: GRPC_STATUS.CANCELLED,
  500: GRPC_STATUS.INTERNAL,
  503: GRPC_STATUS.UNAVAILABLE,
  504: GRPC_STATUS.DEADLINE_EXCEEDED,
};

const GRPC_BY_CODE: Partial<Record<ErrorCode, number>> = {
  PARM_ERR_ENGINE_OVERLOADED: GRPC_STATUS.RESOURCE_EXHAUSTED,
  PARM_ERR_SERVER_OVERLOADED: GRPC_STATUS.RESOURCE_EXHAUSTED,
};

/** gRPC status code for an error: by its code's HTTP status (above), INTERNAL for anything unexpected. */
export function grpcStatusOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  const byCode = typeof code === 'string' ? GRPC_BY_CODE[code as ErrorCode] : undefined;
  return byCode ?? GRPC_BY_HTTP[httpStatusOf(err)] ?? GRPC_STATUS.INTERNAL;
}

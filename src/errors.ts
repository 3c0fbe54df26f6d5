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
  // Engine.
  PARM_ERR_ENGINE_CONFIG: { http: 400, summary: 'invalid engine configuration' },
  PARM_ERR_ENGINE_INPUT: { http: 400, summary: 'invalid input tensor' },
  PARM_ERR_ENGINE_NOT_READY: { http: 503, summary: 'engine not ready' },
  PARM_ERR_ENGINE_OVERLOADED: { http: 503, summary: 'too many pending queries' },
  PARM_ERR_ENGINE_CLOSED: { http: 503, summary: 'engine is shutting down' },
  PARM_ERR_ENGINE_TIMEOUT: { http: 504, summary: 'no answer within the deadline' },
  PARM_ERR_ENGINE_INSTANCE: { http: 500, summary: 'instance failed and the query could not be recovered' },
  PARM_ERR_ENGINE_MODEL: { http: 500, summary: 'model failed to load or run' },
  // Network front.
  PARM_ERR_SERVER_BAD_REQUEST: { http: 400, summary: 'malformed request' },
  PARM_ERR_SERVER_UNAUTHORIZED: { http: 401, summary: 'missing or invalid bearer token' },
  PARM_ERR_SERVER_NOT_FOUND: { http: 404, summary: 'unknown model, version or route' },
  PARM_ERR_SERVER_METHOD: { http: 405, summary: 'method not allowed' },
  PARM_ERR_SERVER_TOO_LARGE: { http: 413, summary: 'request too large' },
  PARM_ERR_SERVER_OVERLOADED: { http: 503, summary: 'server overloaded' },
  PARM_ERR_SERVER_NOT_READY: { http: 503, summary: 'server not ready' },
  PARM_ERR_SERVER_PROTOCOL: { http: 400, summary: 'WebSocket framing violation (the connection is closed)' },
  PARM_ERR_SERVER_CONFIG: { http: 400, summary: 'invalid serve configuration' },
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

// The logger the engine writes to: a pino-compatible subset. The engine logs instance failures,
// restarts and internal errors only, never per-query events.
export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

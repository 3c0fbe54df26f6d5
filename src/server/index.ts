// The network front's public surface: start a server over engines, its limits, serve config.
export { startServer, checkLimits, DEFAULT_LIMITS, type ParmServer, type ServerLimits, type ServerOptions } from './server.js';
export { loadServeConfig, parseFaultSpec, resolveDeployment, type ServeConfig } from './config.js';
export { ServerMetrics } from './metrics.js';

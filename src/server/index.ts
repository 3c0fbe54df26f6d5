// The network front's public surface (`parm/server`): start a server over engines, its limits,
// serve config.
export { startServer, type ParmServer, type ServerOptions } from './app.js';
export { checkLimits, DEFAULT_LIMITS, type ServerLimits } from './limits.js';
export { loadServeConfig, resolveDeployment, type ServeConfig } from './config.js';
export { parseFaultSpec } from './fault-spec.js';
export { ServerMetrics } from './metrics.js';

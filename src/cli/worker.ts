// `parm worker`: one ONNX model served over OIP v2 HTTP (JSON and the binary tensor extension),
// no coding: a backend for a parm frontend on another host (docs/scale-out.md). It is `parm serve`
// with one deployment in mode `none`: the same server, engine and output lines.
import { basename } from 'node:path';
import { Command } from 'commander';
import { usage } from './usage.js';
import { runServe, type ServeFlags } from './serve.js';

interface WorkerFlags {
  model: string;
  name?: string;
  host?: string;
  port?: number;
  threads?: number;
  instances?: number;
  logLevel: string;
}

const int = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) usage(`${name} must be an integer in [${min}, ${max}], got '${v}'`);
  return n;
};

/** The model name a file is served as: its base name without `.onnx`. */
export function workerModelName(file: string): string {
  return basename(file).replace(/\.onnx$/i, '');
}

export function register(program: Command): void {
  program
    .command('worker')
    .description(
      'Serve one ONNX model over Open Inference Protocol v2 HTTP, no coding: a deployed or parity backend for a parm frontend ' +
        '(list its URL, http://HOST:PORT/v2/models/NAME, in the frontend config\'s deployedBackends or parityModels[].backends).',
    )
    .requiredOption('--model <file.onnx>', 'the ONNX model to serve')
    .option('--name <name>', 'model name in the URL (default: the file name without .onnx)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on; 0 picks a free one and prints it (default 8000)', int('--port', 0, 65535))
    .option('--threads <n>', 'onnxruntime intra-op threads of each session (default 1)', int('--threads', 1, 256))
    .option('--instances <n>', 'onnxruntime sessions, each in its own worker thread (default 1)', int('--instances', 1, 1024))
    .option('--log-level <level>', 'JSON log lines on stderr at this level and above', 'info')
    .action(async (flags: WorkerFlags) => {
      const name = flags.name ?? workerModelName(flags.model);
      // A backend serves HTTP only: gRPC on the default port would take the frontend's on the same host.
      const serveFlags: ServeFlags = { host: flags.host, port: flags.port, fault: [], logLevel: flags.logLevel, grpc: false };
      await runServe(serveFlags, {
        deployments: [{ name, deployedModel: flags.model, mode: 'none', instances: flags.instances ?? 1, threadsPerSession: flags.threads ?? 1 }],
        limits: {},
      });
    });
}

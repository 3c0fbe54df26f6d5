// Runs the Python trainer (training/, PyTorch from Debian's python3-torch) as a child process:
// `parm train` and the cost counter of `parm eval` both go through here. Python: $PARM_PYTHON,
// else /usr/bin/python3 (Debian's, which sees python3-torch even when another python3 comes first
// on PATH), else python3.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ParmError } from './errors.js';
import { packageRoot } from './package-root.js';

export function pythonExecutable(): string {
  if (process.env['PARM_PYTHON']) return process.env['PARM_PYTHON'];
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export interface TrainerRun {
  code: number;
  /** Captured stderr when `capture` was set, else ''. */
  stderr: string;
  stdout: string;
}

/**
 * Runs `python3 -m training <args>` from the package root. With `capture`, stdout/stderr are
 * collected and returned; otherwise they go straight to this process's.
 */
export function runTrainer(args: readonly string[], opts: { capture?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<TrainerRun> {
  const python = pythonExecutable();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, ['-m', 'training', ...args], {
      cwd: packageRoot(),
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1', ...opts.env },
      stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    let stdout = '', stderr = '';
    child.stdout?.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', (err) => {
      reject(new ParmError('PARM_ERR_TRAIN_INPUT', `cannot run ${python} (${err.message}); install python3 with ` +
        'python3-torch, python3-onnx and python3-numpy (apt), or set PARM_PYTHON'));
    });
    child.on('close', (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

// Child-process entry of a bulk-transfer agent, forked into one namespace host: a TCP sink that
// discards what it receives, and on request (IPC) a sender that writes to another host's sink as
// fast as the path takes for a given time. Bulk transfers between hosts are the tail benchmark's
// background across hosts (the paper's) and the cluster test's saturated link.
import { createConnection, createServer, type Socket } from 'node:net';

/** Parent to agent. */
export type AgentCommand =
  | { type: 'send'; id: number; host: string; port: number; ms: number }
  | { type: 'received' }
  | { type: 'stop' };

/** Agent to parent. */
export type AgentReport =
  | { type: 'listening'; port: number }
  /** A transfer ended: bytes handed to the kernel (the sink's count is what arrived). */
  | { type: 'sent'; id: number; bytes: number; ms: number; error: string | null }
  /** Bytes the sink has received so far, from every sender. */
  | { type: 'received'; bytes: number };

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

function send(cmd: Extract<AgentCommand, { type: 'send' }>): void {
  const started = performance.now();
  let written = 0;
  let done = false;
  const socket: Socket = createConnection({ host: cmd.host, port: cmd.port });
  const finish = (error: string | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    process.send?.({ type: 'sent', id: cmd.id, bytes: written, ms: performance.now() - started, error } satisfies AgentReport);
  };
  // Stops at the deadline whatever the link does; bytes still queued in the kernel are dropped with the socket.
  const timer = setTimeout(() => finish(null), cmd.ms);
  const pump = (): void => {
    while (!done && socket.write(CHUNK)) written += CHUNK.length;
    if (!done) written += CHUNK.length;
  };
  socket.on('connect', pump);
  socket.on('drain', pump);
  socket.on('error', (err) => finish(err.message));
}

const port = Number(process.argv[2] ?? 5201);
let received = 0;
const sink = createServer((s) => {
  s.on('data', (chunk: Buffer) => void (received += chunk.length));
  s.on('error', () => {});
});
sink.listen(port, () => process.send?.({ type: 'listening', port } satisfies AgentReport));
process.on('message', (cmd: AgentCommand) => {
  if (cmd.type === 'send') send(cmd);
  else if (cmd.type === 'received') process.send?.({ type: 'received', bytes: received } satisfies AgentReport);
  else process.exit(0);
});
process.on('disconnect', () => process.exit(0));

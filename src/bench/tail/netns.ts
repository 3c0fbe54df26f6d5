// Hosts on one machine: Linux network namespaces joined by a bridge that lives in its own switch
// namespace, one veth per host, addresses of one private /24 that exist only inside these
// namespaces (no default route: nothing outside is reachable), and per host a tbf rate limit and
// nftables rules. Built by the cluster test and `parm bench tail --topology hosts`. Torn down by
// close(), at process exit and on SIGINT / SIGTERM; namespaces left by a process that died
// (SIGKILL) are found by the pid in their name and removed, with their processes, before a build.
import { execFileSync, fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from 'node:child_process';

/** Every namespace this module makes is named `parm-<tag><pid>-<host>`. */
const NAME = /^parm-([a-z]+)(\d+)-([a-z0-9]+)$/;
const SWITCH = 'sw';
const BRIDGE = 'br0';

export interface ClusterHost {
  /** Short name given by the caller (`fe`, `d0`, ...). */
  name: string;
  /** The network namespace. */
  ns: string;
  /** The host's address on the bridge. */
  address: string;
  /** The switch-side end of its veth (its egress is the host's downlink). */
  port: string;
}

export interface ClusterOptions {
  /** Lower-case letters naming the user (`ct`: the cluster test, `bt`: the tail benchmark). */
  tag: string;
  /** First three octets of the /24, e.g. `10.231.1`; hosts get .1, .2, ... in order. */
  subnet: string;
  /** Host names, lower-case letters and digits, at most 8 characters. */
  hosts: string[];
}

export interface LinkLimit {
  /** tbf rate, Mbit/s. */
  mbit: number;
  /** tbf queue: packets that would wait longer than this are dropped (so queueing delay is at most this), ms. */
  latencyMs: number;
  /** tbf bucket: a burst this large passes at line rate (an idle link adds no delay to a request), bytes. */
  burstBytes: number;
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
}

function errText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0]!;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  try {
    return run('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Kills every process inside a namespace (they are this module's users' children), then deletes it. */
function removeNamespace(ns: string): void {
  try {
    for (const pid of run('ip', ['netns', 'pids', ns]).split('\n').map(Number).filter((p) => p > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no such namespace
  }
  try {
    run('ip', ['netns', 'delete', ns]);
  } catch {
    // already deleted
  }
}

/** Removes namespaces of this module whose creating process no longer runs; returns their names. */
export function removeStaleNamespaces(): string[] {
  const stale = listNamespaces().filter((ns) => {
    const m = NAME.exec(ns);
    return m !== null && !pidAlive(Number(m[2]));
  });
  for (const ns of stale) removeNamespace(ns);
  return stale;
}

let probed: string | null | undefined;

/**
 * Why namespaces cannot be made here (not Linux, not root, no `ip`, the kernel refuses), or null
 * when they can: the reason a test skips with.
 */
export function netnsUnavailable(): string | null {
  if (probed !== undefined) return probed;
  probed = (() => {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
    if (process.getuid?.() !== 0) return 'making network namespaces needs root';
    try {
      run('ip', ['-V']);
    } catch {
      return 'no `ip` command (install iproute2)';
    }
    const ns = `parm-probe${process.pid}-x`;
    try {
      run('ip', ['netns', 'add', ns]);
      run('ip', ['-n', ns, 'link', 'add', 'name', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
      run('ip', ['-n', ns, 'link', 'add', BRIDGE, 'type', 'bridge']);
      return null;
    } catch (err) {
      return `cannot build network namespaces with veth and bridge here: ${errText(err)}`;
    } finally {
      removeNamespace(ns);
    }
  })();
  return probed;
}

/** Why nftables rules cannot be set in a namespace here, or null. */
export function nftUnavailable(): string | null {
  try {
    run('nft', ['--version']);
  } catch {
    return 'no `nft` command (install nftables)';
  }
  return null;
}

const live = new Set<NetnsCluster>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const c of live) c.destroy();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const c of live) c.destroy();
      // Die of the signal as if nobody had listened, unless someone else handles it.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}

export class NetnsCluster {
  readonly hosts: ReadonlyMap<string, ClusterHost>;
  /** The switch namespace holding the bridge. */
  readonly switchNs: string;
  readonly subnet: string;
  private destroyed = false;

  private constructor(opts: ClusterOptions) {
    if (!/^[a-z]{1,6}$/.test(opts.tag)) throw new TypeError(`cluster tag must be 1-6 lower-case letters, got '${opts.tag}'`);
    if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.subnet)) throw new TypeError(`subnet must be three octets such as 10.231.1, got '${opts.subnet}'`);
    if (opts.hosts.length === 0 || opts.hosts.length > 250) throw new TypeError(`a cluster has 1 to 250 hosts, got ${opts.hosts.length}`);
    const prefix = `parm-${opts.tag}${process.pid}-`;
    this.switchNs = `${prefix}${SWITCH}`;
    this.subnet = opts.subnet;
    const hosts = new Map<string, ClusterHost>();
    opts.hosts.forEach((name, i) => {
      if (!/^[a-z0-9]{1,8}$/.test(name) || name === SWITCH) throw new TypeError(`host name must be 1-8 lower-case letters or digits (not '${SWITCH}'), got '${name}'`);
      if (hosts.has(name)) throw new TypeError(`host '${name}' listed twice`);
      hosts.set(name, { name, ns: `${prefix}${name}`, address: `${opts.subnet}.${i + 1}`, port: `v-${name}` });
    });
    this.hosts = hosts;
  }

  /**
   * Builds the cluster: removes stale namespaces first, then the switch and one namespace per host,
   * each with `lo` up and `eth0` at its address. Throws (after removing what it made) when the
   * system refuses; check netnsUnavailable() first to skip cleanly.
   */
  static create(opts: ClusterOptions): NetnsCluster {
    removeStaleNamespaces();
    const c = new NetnsCluster(opts);
    installExitHandlers();
    live.add(c);
    try {
      run('ip', ['netns', 'add', c.switchNs]);
      const sw = [`link add ${BRIDGE} type bridge`, `link set ${BRIDGE} up`, 'link set lo up'];
      for (const h of c.hosts.values()) {
        run('ip', ['netns', 'add', h.ns]);
        sw.push(`link add ${h.port} type veth peer name eth0 netns ${h.ns}`, `link set ${h.port} master ${BRIDGE}`, `link set ${h.port} up`);
      }
      run('ip', ['-n', c.switchNs, '-batch', '-'], `${sw.join('\n')}\n`);
      for (const h of c.hosts.values()) {
        run('ip', ['-n', h.ns, '-batch', '-'], `link set lo up\naddr add ${h.address}/24 dev eth0\nlink set eth0 up\n`);
      }
    } catch (err) {
      c.destroy();
      throw new Error(`building the namespace cluster failed: ${errText(err)}`);
    }
    return c;
  }

  host(name: string): ClusterHost {
    const h = this.hosts.get(name);
    if (!h) throw new RangeError(`no host '${name}' in the cluster (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /** The command line that runs `cmd args` inside a host. */
  argv(host: string, cmd: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.host(host).ns, cmd, ...args]];
  }

  /** Spawns a program inside a host (the child's pid is the program's: `ip netns exec` execs it). */
  spawn(host: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const [c, a] = this.argv(host, cmd, args);
    return spawn(c, a, opts);
  }

  /** Forks a Node module inside a host with an IPC channel, under this process's loader flags. */
  fork(host: string, modulePath: string, args: string[], opts: ForkOptions = {}): ChildProcess {
    return fork(modulePath, args, { ...opts, execPath: 'ip', execArgv: ['netns', 'exec', this.host(host).ns, process.execPath, ...(opts.execArgv ?? process.execArgv)] });
  }

  /** Runs a command inside a host and returns its stdout; throws with its stderr. */
  exec(host: string, cmd: string, args: string[], input?: string): string {
    const [c, a] = this.argv(host, cmd, args);
    return run(c, a, input);
  }

  /** Rate-limits a host's downlink (traffic towards it) with tbf; null removes the limit. */
  limitDownlink(host: string, limit: LinkLimit | null): void {
    const port = this.host(host).port;
    if (limit === null) {
      try {
        run('tc', ['-n', this.switchNs, 'qdisc', 'del', 'dev', port, 'root']);
      } catch {
        // no limit set
      }
      return;
    }
    run('tc', ['-n', this.switchNs, 'qdisc', 'replace', 'dev', port, 'root', 'tbf', 'rate', `${limit.mbit}mbit`, 'burst', String(limit.burstBytes), 'latency', `${limit.latencyMs}ms`]);
  }

  /** Replaces the host's `inet parm` nftables table with `rules` (nft syntax, one rule per line, in chains `input` and `output`). */
  setFirewall(host: string, rules: { input?: string[]; output?: string[] }): void {
    const chain = (name: 'input' | 'output', lines: string[] = []) =>
      `  chain ${name} {\n    type filter hook ${name} priority 0; policy accept;\n${lines.map((l) => `    ${l}\n`).join('')}  }\n`;
    this.clearFirewall(host);
    this.exec(host, 'nft', ['-f', '-'], `table inet parm {\n${chain('input', rules.input)}${chain('output', rules.output)}}\n`);
  }

  clearFirewall(host: string): void {
    try {
      this.exec(host, 'nft', ['delete', 'table', 'inet', 'parm']);
    } catch {
      // no table
    }
  }

  /** Kills every process left in the namespaces and deletes them; idempotent, synchronous (safe in exit handlers). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const h of this.hosts.values()) removeNamespace(h.ns);
    removeNamespace(this.switchNs);
  }

  /** Description of the cluster for reports. */
  describe(): { subnet: string; hosts: { name: string; address: string }[] } {
    return { subnet: `${this.subnet}.0/24`, hosts: [...this.hosts.values()].map((h) => ({ name: h.name, address: h.address })) };
  }
}

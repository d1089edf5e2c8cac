/**
 * Packet loss for tests, in a network namespace of our own.
 *
 * This kernel has no `sch_netem` (`tc qdisc add dev lo root netem loss 30%` fails with
 * "Specified qdisc kind is unknown") and no `act_gact` (so no `action gact drop random`),
 * but it has `htb`, the `blackhole` qdisc and `cls_bpf`. Loss is made like this, on the
 * `lo` of a namespace created here:
 *
 *   htb root (unclassified packets go out direct, untouched)
 *   ├── class 1:1  a lossy-port packet that was kept (counted)
 *   └── class 1:2  → blackhole qdisc: a lossy-port packet that was dropped (counted)
 *   filter: classic BPF: IPv4 TCP/UDP whose destination port ('to'), source port ('from')
 *           or either ('both') is in the lossy set → `ld rand` (SKF_AD_RANDOM); below
 *           fraction × 2³² → 1:2, else 1:1.
 *
 * The blackhole qdisc drops silently (the sender sees success), as a lossy wire would, so
 * TCP recovers by its own retransmissions. Each packet is dropped independently with the
 * chosen probability; `tc -s class` counts what was kept and dropped ({@link NetNs.lossStats}).
 * `netem loss` on one host's interface drops what that host sends: 'to' a server port is
 * the client host's netem, 'from' it the server host's; 'both' is a lossy path both ways.
 *
 * Topology (every address is 127.0.0.1, in the host's namespace or in ours):
 *
 *   host client ──TCP──▶ FaultProxy (127.0.0.1:host port; delay/jitter per direction) ──Unix socket──▶
 *   forwarder (node, inside the namespace) ──TCP over the namespace's lo (lossy port)──▶ etcd
 *
 * etcd runs inside the namespace (`ip netns exec`), listening on two client ports there: a
 * lossy one and a clean one (not in the filter) that the harness and "bypass" clients use.
 * Unix-domain sockets are files, so they cross network namespaces: that is the bridge. No
 * traffic ever leaves loopback.
 *
 * Cleanup: every namespace, process and socket file is removed by {@link NetNs.destroy},
 * by {@link destroyAllNetNs} (afterAll), and at process exit; namespaces named
 * `ecoord-<pid>-<n>` whose owner pid is dead (a crashed run) are removed when the next
 * namespace is created.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findEtcdBinary, getText, INSTALL_HINT } from './etcd.js';
import { FaultProxy } from './proxy.js';

const PREFIX = 'ecoord-';
const live = new Set<NetNs>();
let counter = 0;
let staleChecked = false;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills whatever still runs in namespace `name`, deletes it and its socket dir (best effort, sync). */
function removeNamespace(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  for (const p of (pids.stdout ?? '').split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  rmSync(join(tmpdir(), name), { recursive: true, force: true });
}

/** Removes namespaces `ecoord-<pid>-<n>` left behind by a process that is no longer alive. */
export function removeStaleNetNs(): string[] {
  const removed: string[] = [];
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const m = /^ecoord-(\d+)-\d+$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      removeNamespace(name);
      removed.push(name);
    }
  }
  return removed;
}

/**
 * The forwarder run inside the namespace: a Unix-socket server at FWD_PATH whose every
 * connection is piped to 127.0.0.1:FWD_PORT there. Prints 'ready' once listening; exits
 * when its stdin closes (the test process went away).
 */
const FORWARDER = `
const net = require('node:net');
const fs = require('node:fs');
const path = process.env.FWD_PATH, port = Number(process.env.FWD_PORT);
try { fs.unlinkSync(path); } catch {}
const server = net.createServer((a) => {
  const b = net.connect(port, '127.0.0.1');
  a.on('error', () => b.destroy()); b.on('error', () => a.destroy());
  a.on('close', () => b.destroy()); b.on('close', () => a.destroy());
  a.pipe(b); b.pipe(a);
});
server.listen(path, () => process.stdout.write('ready\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`;

/** Packets seen by the loss filter on the lossy ports since the loss was set. */
export interface LossStats {
  /** Packets dropped (classified into the blackhole). */
  dropped: number;
  /** Packets on the lossy ports that were let through. */
  passed: number;
}

/** A network namespace of our own, with its `lo` up. */
export class NetNs {
  /** Directory for this namespace's Unix sockets (removed on destroy). */
  readonly dir: string;
  private readonly procs = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(readonly name: string) {
    this.dir = join(tmpdir(), name);
  }

  /** Creates `ecoord-<pid>-<n>` (removing stale ones of dead owners first) and brings `lo` up. */
  static create(): NetNs {
    if (!staleChecked) {
      staleChecked = true;
      removeStaleNetNs();
    }
    const name = `${PREFIX}${process.pid}-${++counter}`;
    // A namespace of the same name belongs to a dead process whose pid we were given again.
    const existing = (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n');
    if (existing.some((l) => l.split(' ')[0] === name)) removeNamespace(name);
    ip('netns', 'add', name);
    const ns = new NetNs(name);
    live.add(ns);
    try {
      mkdirSync(ns.dir, { recursive: true });
      ip('-n', name, 'link', 'set', 'lo', 'up');
    } catch (err) {
      ns.destroySync();
      throw err;
    }
    return ns;
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, cmd, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Sets a sysctl of the namespace (e.g. 'net.ipv4.tcp_thin_linear_timeouts', '1'). */
  sysctl(name: string, value: string): void {
    this.exec('sysctl', ['-q', '-w', `${name}=${value}`]);
  }

  /** Starts a long-running process inside the namespace; it is killed on destroy. */
  spawn(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
    // `ip netns exec` execs the command in place (no fork), so the pid is the command's.
    const proc = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    this.procs.add(proc);
    proc.once('exit', () => this.procs.delete(proc));
    return proc;
  }

  /**
   * A Unix socket (a file in {@link dir}) that leads to 127.0.0.1:`port` inside the
   * namespace, through a forwarder process started here.
   */
  async bridge(port: number): Promise<string> {
    const path = join(this.dir, `${port}.sock`);
    const proc = this.spawn(process.execPath, ['-e', FORWARDER], { FWD_PATH: path, FWD_PORT: String(port) });
    let err = '';
    proc.stderr?.on('data', (d) => {
      err = (err + d).slice(-2000);
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout?.on('data', (d) => {
        out += d;
        if (out.includes('ready')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`forwarder in ${this.name} exited (${code}): ${err}`)));
    });
    return path;
  }

  /**
   * Drops each IPv4 TCP/UDP packet whose source or destination port (see `direction`) is
   * in `ports` with probability `fraction` (0..1), each packet independently. Replaces an
   * earlier setting; the counters start again from zero.
   */
  setLoss(fraction: number, ports: number[], direction: LossDirection = 'both'): void {
    if (!(fraction >= 0 && fraction <= 1)) throw new Error(`loss fraction must be in [0, 1], got ${fraction}`);
    if (ports.length === 0) throw new Error('setLoss: no ports');
    this.clearLoss();
    const tc = (args: string, ...more: string[]) => this.exec('tc', [...args.split(' '), ...more]);
    // Unclassified packets (not on a lossy port) go out direct. r2q keeps htb's quantum
    // sane at 10 Gbit; the two classes only count, they never shape loopback traffic.
    tc('qdisc add dev lo root handle 1: htb default 0 r2q 1000000');
    tc('class add dev lo parent 1: classid 1:1 htb rate 10gbit burst 4mb cburst 4mb');
    tc('class add dev lo parent 1: classid 1:2 htb rate 10gbit burst 4mb cburst 4mb');
    tc('qdisc add dev lo parent 1:2 handle 2: blackhole');
    tc('filter add dev lo parent 1: prio 1 handle 1 bpf bytecode', lossBytecode(fraction, ports, direction));
  }

  /** Removes the loss filter and qdiscs (lo is then untouched again). */
  clearLoss(): void {
    spawnSync('ip', ['netns', 'exec', this.name, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { stdio: 'ignore' });
  }

  /** What the loss filter did so far (from `tc -s class show dev lo`). */
  lossStats(): LossStats {
    const text = this.exec('tc', ['-s', 'class', 'show', 'dev', 'lo']);
    const stats: LossStats = { dropped: 0, passed: 0 };
    for (const block of text.split(/\n(?=class )/)) {
      const sent = /Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(block);
      if (!sent) continue;
      if (block.startsWith('class htb 1:1 ')) stats.passed = Number(sent[1]);
      if (block.startsWith('class htb 1:2 ')) stats.dropped = Number(sent[2]);
    }
    return stats;
  }

  /**
   * Sends `count` UDP datagrams from 127.0.0.1:`port + 1` to 127.0.0.1:`port` inside the
   * namespace and returns the fraction that did not arrive: the loss the filter really
   * produces. Put both ports in the loss set, so that every direction setting applies.
   */
  probeLoss(port: number, count = 2000): number {
    const script = `
const dgram = require('node:dgram');
const r = dgram.createSocket('udp4'), s = dgram.createSocket('udp4');
let got = 0;
r.on('message', () => got++);
r.bind(${port}, '127.0.0.1', () => s.bind(${port + 1}, '127.0.0.1', async () => {
  for (let i = 0; i < ${count}; i++) {
    await new Promise((ok) => s.send('x', ${port}, '127.0.0.1', ok));
    if (i % 20 === 19) await new Promise((ok) => setTimeout(ok, 1)); // stay below the receive buffer
  }
  setTimeout(() => { process.stdout.write(String(got)); process.exit(0); }, 200);
}));`;
    const got = Number(this.exec(process.execPath, ['-e', script]).trim());
    return 1 - got / count;
  }

  /** Kills the processes, deletes the namespace (and with it its qdiscs) and the socket dir. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const exits = [...this.procs].map((p) => new Promise<void>((r) => p.once('exit', () => r())));
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 3000))]);
    this.destroySync();
  }

  /** Synchronous destroy, for process exit. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) p.kill('SIGKILL');
    removeNamespace(this.name);
    live.delete(this);
  }
}

/**
 * Which packets of a port the loss applies to: `'both'` directions, `'to'` the port
 * (destination port in the set: e.g. requests to a server and the client's ACKs), or
 * `'from'` it (source port in the set: e.g. a server's answers and ACKs, as
 * `netem loss` on the server's interface would do).
 */
export type LossDirection = 'both' | 'to' | 'from';

/**
 * The classic BPF program of the loss filter, in tc's `bytecode` syntax (the count, then
 * `code jt jf k` per instruction). At tc egress the packet starts at the (zeroed) Ethernet
 * header of lo, so IPv4 starts at offset 14. Returns: 0 (no match: the packet goes out
 * direct, untouched), 1:1 (a lossy-port packet that is kept) or 1:2 (dropped).
 */
export function lossBytecode(fraction: number, ports: number[], direction: LossDirection = 'both'): string {
  const threshold = Math.min(0xffffffff, Math.round(fraction * 2 ** 32));
  // Instructions with symbolic jump targets, resolved below.
  type Ins = { code: number; jt?: string; jf?: string; k: number; label?: string };
  const prog: Ins[] = [
    { code: 0x28, k: 12 }, // ldh [12]                ethertype
    { code: 0x15, jf: 'pass', k: 0x0800 }, // jeq #IPv4, else PASS
    { code: 0x30, k: 23 }, // ldb [23]                IP protocol
    { code: 0x15, jt: 'ports', k: 6 }, // jeq #TCP → PORTS
    { code: 0x15, jf: 'pass', k: 17 }, // jeq #UDP, else PASS
    { code: 0xb1, k: 14, label: 'ports' }, // ldxb 4*([14]&0xf)  IP header length into X
  ];
  const tests = (offset: number, last: boolean) => {
    prog.push({ code: 0x48, k: offset }); // ldh [x+offset]      the port
    ports.forEach((p, i) => {
      prog.push({ code: 0x15, jt: 'lossy', jf: last && i === ports.length - 1 ? 'pass' : undefined, k: p });
    });
  };
  if (direction !== 'to') tests(14, direction === 'from'); // source port
  if (direction !== 'from') tests(16, true); // destination port
  prog.push(
    { code: 0x20, k: 0xfffff038, label: 'lossy' }, // ld rand (SKF_AD_OFF + SKF_AD_RANDOM)
    { code: 0x35, jt: 'keep', k: threshold }, // jge #threshold → KEEP (fraction 0: always)
    { code: 0x06, k: 0x10002 }, // ret 1:2: the blackhole, dropped
    { code: 0x06, k: 0x10001, label: 'keep' }, // ret 1:1: kept (and counted)
    { code: 0x06, k: 0, label: 'pass' }, // ret 0: not ours, out direct
  );
  const at = (label: string | undefined, from: number): number => {
    if (label === undefined) return 0;
    const to = prog.findIndex((i) => i.label === label);
    if (to <= from) throw new Error(`lossBytecode: bad jump to ${label}`);
    return to - from - 1;
  };
  const words = prog.map((ins, i) => `${ins.code} ${at(ins.jt, i)} ${at(ins.jf, i)} ${ins.k}`);
  return `${words.length},${words.join(',')}`;
}

/** A single etcd member inside its own namespace, reachable from the host through a lossy and a clean path. */
export class LossyEtcd {
  private constructor(
    readonly netns: NetNs,
    /** Host-side proxy of the lossy path: add delay or jitter here. */
    readonly proxy: FaultProxy,
    /** Host-side proxy of the clean path (no loss, no delay): for checks that must bypass the fault. */
    readonly cleanProxy: FaultProxy,
    readonly dataDir: string,
    private readonly proc: ChildProcess,
    private readonly log: { text: string },
  ) {}

  /** Ports inside the namespace. */
  static readonly LOSSY_PORT = 2379;
  static readonly CLEAN_PORT = 2381;
  static readonly PEER_PORT = 2380;
  /**
   * A UDP port inside the namespace for {@link NetNs.probeLoss}; it and the port above it
   * (the probe's sender) are in the loss filter too.
   */
  static readonly PROBE_PORT = 9998;

  /** 'host:port' on the host that reaches etcd through the loss (and the proxy's delay/jitter). */
  get endpoint(): string {
    return this.proxy.endpoint;
  }
  /** 'host:port' on the host that reaches etcd without loss or delay. */
  get cleanEndpoint(): string {
    return this.cleanProxy.endpoint;
  }
  /** The last lines etcd wrote. */
  get output(): string {
    return this.log.text.slice(-4000);
  }

  /**
   * Starts etcd in a fresh namespace with `loss` (0..1) on its lossy client port. Throws
   * with an install hint when there is no etcd binary.
   */
  static async start(
    opts: { loss?: number; direction?: LossDirection; extraArgs?: string[] } = {},
  ): Promise<LossyEtcd> {
    const bin = findEtcdBinary();
    if (!bin) throw new Error(INSTALL_HINT);
    const netns = NetNs.create();
    // The data dir lives in the namespace's own dir, so a stale-namespace cleanup removes it too.
    const dataDir = join(netns.dir, 'etcd');
    const cleanup: (() => Promise<unknown>)[] = [() => netns.destroy()];
    try {
      const url = (p: number) => `http://127.0.0.1:${p}`;
      const log = { text: '' };
      const proc = netns.spawn(bin, [
        '--name',
        'm0',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        `${url(LossyEtcd.CLEAN_PORT)},${url(LossyEtcd.LOSSY_PORT)}`,
        '--advertise-client-urls',
        url(LossyEtcd.LOSSY_PORT),
        '--listen-peer-urls',
        url(LossyEtcd.PEER_PORT),
        '--initial-advertise-peer-urls',
        url(LossyEtcd.PEER_PORT),
        '--initial-cluster',
        `m0=${url(LossyEtcd.PEER_PORT)}`,
        '--initial-cluster-state',
        'new',
        '--logger',
        'zap',
        '--log-outputs',
        'stderr',
        '--log-level',
        'warn',
        ...(opts.extraArgs ?? []),
      ]);
      proc.stdin?.end();
      const append = (d: Buffer) => {
        log.text = (log.text + d).slice(-20000);
      };
      proc.stdout?.on('data', append);
      proc.stderr?.on('data', append);
      const [lossySock, cleanSock] = await Promise.all([
        netns.bridge(LossyEtcd.LOSSY_PORT),
        netns.bridge(LossyEtcd.CLEAN_PORT),
      ]);
      const proxy = await FaultProxy.start({ path: lossySock });
      cleanup.unshift(() => proxy.close());
      const cleanProxy = await FaultProxy.start({ path: cleanSock });
      cleanup.unshift(() => cleanProxy.close());
      const etcd = new LossyEtcd(netns, proxy, cleanProxy, dataDir, proc, log);
      await etcd.waitHealthy();
      etcd.setLoss(opts.loss ?? 0, opts.direction);
      lossyLive.add(etcd);
      return etcd;
    } catch (err) {
      for (const f of cleanup) await f().catch(() => undefined);
      throw err;
    }
  }

  /** Waits until /health (through the clean path) says true. */
  async waitHealthy(timeoutMs = 20000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`etcd in ${this.netns.name} exited:\n${this.output}`);
      }
      const body = await getText(this.cleanProxy.port, '/health').catch(() => '');
      if (body.includes('true')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd in ${this.netns.name} not healthy after ${timeoutMs} ms:\n${this.output}`);
  }

  /**
   * Sets the loss on the lossy path (the counters restart): `direction` 'to' drops packets
   * going to etcd (requests, the client's ACKs), 'from' packets coming from it, 'both' either.
   */
  setLoss(fraction: number, direction: LossDirection = 'both'): void {
    const ports = [LossyEtcd.LOSSY_PORT, LossyEtcd.PROBE_PORT, LossyEtcd.PROBE_PORT + 1];
    this.netns.setLoss(fraction, ports, direction);
  }

  /** Packets dropped and kept on the lossy path so far. */
  lossStats(): LossStats {
    return this.netns.lossStats();
  }

  /** Stops etcd and the bridges, deletes the namespace, the sockets and the data dir. */
  async destroy(): Promise<void> {
    lossyLive.delete(this);
    await Promise.allSettled([this.proxy.close(), this.cleanProxy.close()]);
    await this.netns.destroy(); // the data dir is inside the namespace's dir
  }
}

const lossyLive = new Set<LossyEtcd>();

/** Destroys every namespace (and lossy etcd) this process created; for afterAll. */
export async function destroyAllNetNs(): Promise<void> {
  await Promise.allSettled([...lossyLive].map((e) => e.destroy()));
  await Promise.allSettled([...live].map((n) => n.destroy()));
}

process.once('exit', () => {
  for (const ns of live) {
    try {
      ns.destroySync();
    } catch {
      /* best effort at exit */
    }
  }
});

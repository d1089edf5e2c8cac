/**
 * Real etcd for tests: single nodes and 3-node clusters on free loopback ports, each
 * member in its own temp data dir, with stop / kill / pause (SIGSTOP) / resume / restart
 * on the same data dir. Everything started here is stopped by {@link stopAll}.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started = new Set<EtcdMember>();

/** The etcd binary: `ETCD_BIN`, else `etcd` on PATH; undefined when there is none. */
export function findEtcdBinary(): string | undefined {
  if (process.env.ETCD_BIN) return process.env.ETCD_BIN;
  const r = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** etcdctl next to etcd, or on PATH. */
export function findEtcdctl(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v etcdctl'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export const INSTALL_HINT =
  'etcd was not found. Install it (Debian/Ubuntu: `sudo apt-get install etcd-server etcd-client`, or run scripts/ensure-etcd.sh), ' +
  'set ETCD_BIN to the binary, or set ETCD_ENDPOINTS to a running cluster.';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** PEM file paths the harness uses to talk to a TLS etcd (health checks). */
export interface HarnessTls {
  ca: string;
  cert?: string;
  key?: string;
}

function healthy(port: number, tls?: HarnessTls): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = { host: '127.0.0.1', port, path: '/health', timeout: 1000 };
    const onRes = (res: http.IncomingMessage) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')));
    };
    const req = tls
      ? https.get(
          {
            ...opts,
            ca: readFileSync(tls.ca),
            cert: tls.cert ? readFileSync(tls.cert) : undefined,
            key: tls.key ? readFileSync(tls.key) : undefined,
          },
          onRes,
        )
      : http.get(opts, onRes);
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export interface MemberConfig {
  name: string;
  clientPort: number;
  peerPort: number;
  initialCluster: string;
  clusterToken: string;
  extraArgs?: string[];
  scheme?: 'http' | 'https';
  /** Client-side TLS files for health checks of an https member (required with scheme 'https'). */
  tls?: HarnessTls;
}

/** One etcd process. */
export class EtcdMember {
  readonly dataDir: string;
  proc: ChildProcess | undefined;
  private log = '';
  private firstStart = true;

  constructor(readonly config: MemberConfig) {
    this.dataDir = mkdtempSync(join(tmpdir(), `etcd-coord-${config.name}-`));
  }

  get name(): string {
    return this.config.name;
  }
  /** 'host:port' */
  get endpoint(): string {
    return `127.0.0.1:${this.config.clientPort}`;
  }
  get url(): string {
    return `${this.config.scheme ?? 'http'}://127.0.0.1:${this.config.clientPort}`;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }
  /** The last lines etcd wrote, for failure messages. */
  get output(): string {
    return this.log.slice(-4000);
  }

  /** Starts (or restarts on the same data dir) and waits until it is healthy (single node) or listening. */
  async start(waitHealthy = true): Promise<void> {
    if (this.running) return;
    const bin = findEtcdBinary();
    if (!bin) throw new Error(INSTALL_HINT);
    const c = this.config;
    const scheme = c.scheme ?? 'http';
    const args = [
      '--name',
      c.name,
      '--data-dir',
      this.dataDir,
      '--listen-client-urls',
      `${scheme}://127.0.0.1:${c.clientPort}`,
      '--advertise-client-urls',
      `${scheme}://127.0.0.1:${c.clientPort}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${c.peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${c.peerPort}`,
      '--initial-cluster',
      c.initialCluster,
      '--initial-cluster-token',
      c.clusterToken,
      '--initial-cluster-state',
      this.firstStart ? 'new' : 'existing',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      '--log-level',
      'warn',
      ...(c.extraArgs ?? []),
    ];
    this.firstStart = false;
    const proc = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
    });
    this.proc = proc;
    started.add(this);
    proc.stdout?.on('data', (d) => {
      this.log = (this.log + d).slice(-20000);
    });
    proc.stderr?.on('data', (d) => {
      this.log = (this.log + d).slice(-20000);
    });
    if (waitHealthy) await this.waitHealthy();
  }

  /** Waits until /health says true (needs a quorum). */
  async waitHealthy(timeoutMs = 20000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (!this.running) throw new Error(`etcd ${this.name} exited:\n${this.output}`);
      if (await healthy(this.config.clientPort, this.config.tls)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd ${this.name} not healthy after ${timeoutMs} ms:\n${this.output}`);
  }

  private async exit(signal: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    if (p.signalCode === 'SIGSTOP') p.kill('SIGCONT');
    const done = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    if (signal === 'SIGTERM') {
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    } else await done;
  }

  /** Graceful stop (SIGTERM). The data dir is kept for {@link start}. */
  stop(): Promise<void> {
    return this.exit('SIGTERM');
  }
  /** Crash (SIGKILL). The data dir is kept for {@link start}. */
  kill(): Promise<void> {
    return this.exit('SIGKILL');
  }
  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }
  /** SIGCONT after {@link pause}. */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }
  /** Stops (gracefully or not) and starts again on the same data dir. */
  async restart(how: 'stop' | 'kill' = 'stop'): Promise<void> {
    await (how === 'kill' ? this.kill() : this.stop());
    await this.start();
  }
  /**
   * Sum of the Prometheus samples of `metric` on this member's /metrics whose labels
   * contain `labelMatch` (e.g. 'grpc_method="LeaseKeepAlive"'). Plain http members only.
   */
  async metric(metric: string, labelMatch = ''): Promise<number> {
    const text = await getText(this.config.clientPort, '/metrics');
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) {
        if (line.includes(labelMatch)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
    }
    return sum;
  }

  /** Stops and removes the data dir. */
  async destroy(): Promise<void> {
    await this.kill();
    started.delete(this);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A set of members that form one cluster. */
export class EtcdCluster {
  constructor(readonly members: EtcdMember[]) {}

  /** 'host:port' of every member. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** The member that is raft leader now (asks each running member's /v3 status through etcdctl-free HTTP). */
  async leader(timeoutMs = 10000): Promise<EtcdMember> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      for (const m of this.members) {
        if (!m.running) continue;
        const status = await postJson(m.config.clientPort, '/v3/maintenance/status', {}).catch(() => undefined);
        if (status?.leader && status.header?.member_id === status.leader) return m;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no raft leader found');
  }

  /** Members that are not the leader. */
  async followers(): Promise<EtcdMember[]> {
    const l = await this.leader();
    return this.members.filter((m) => m !== l);
  }

  /** Stops every member and removes the data dirs. */
  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => m.destroy()));
  }
}

/** GET a text page (e.g. /metrics) from a member's client port. */
export function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      let out = '';
      res.on('data', (c) => {
        out += c;
      });
      res.on('end', () => resolve(out));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** POST JSON to etcd's gRPC gateway on a member's client port. */
export function postJson(port: number, path: string, body: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', timeout: 2000, headers: { 'content-type': 'application/json' } },
      (res: import('node:http').IncomingMessage) => {
        let out = '';
        res.on('data', (c) => {
          out += c;
        });
        res.on('end', () => {
          try {
            resolve(JSON.parse(out));
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

/** Options of {@link startCluster} and {@link startEtcd}. */
export interface ClusterOptions {
  /** Extra etcd flags for every member (e.g. TLS files, `--auth-token`). */
  extraArgs?: string[];
  /** Scheme of the client URLs; peers always use http. */
  scheme?: 'http' | 'https';
  /** Client-side TLS files the harness uses for health checks of https members. */
  tls?: HarnessTls;
}

/**
 * Starts a cluster of `size` members (1 or 3) on free loopback ports and waits until it
 * is healthy. A port found free can be taken before etcd binds it (the kernel hands the
 * same ephemeral range to outgoing connections): then the members are removed and the
 * cluster starts again on fresh ports, up to three times.
 */
export async function startCluster(size = 1, opts: ClusterOptions = {}): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(size, opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String((err as Error)?.message))) throw err;
    }
  }
}

async function startClusterOnce(size: number, opts: ClusterOptions): Promise<EtcdCluster> {
  const token = `etcd-coord-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i}`);
  const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i].peer}`).join(',');
  const members = names.map(
    (name, i) =>
      new EtcdMember({
        name,
        clientPort: ports[i].client,
        peerPort: ports[i].peer,
        initialCluster,
        clusterToken: token,
        extraArgs: opts.extraArgs,
        scheme: opts.scheme,
        tls: opts.tls,
      }),
  );
  try {
    await Promise.all(members.map((m) => m.start(false)));
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (err) {
    await Promise.all(members.map((m) => m.destroy().catch(() => undefined)));
    throw err;
  }
  return new EtcdCluster(members);
}

/** A single-node etcd. */
export async function startEtcd(opts: ClusterOptions = {}): Promise<EtcdMember> {
  const c = await startCluster(1, opts);
  return c.members[0];
}

/** Kills every etcd this process started and removes the data dirs. */
export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((m) => m.destroy()));
}

process.once('exit', () => {
  for (const m of started) {
    try {
      m.proc?.kill('SIGKILL');
      rmSync(m.dataDir, { recursive: true, force: true });
    } catch {
      /* best effort at exit */
    }
  }
});

/**
 * A TCP fault proxy on loopback between a client and etcd: pass traffic, add a fixed
 * delay or a random per-chunk delay (jitter), black-hole (accept and hold connections,
 * forward nothing), or cut every connection.
 *
 * The upstream is a TCP port on 127.0.0.1 or a Unix-domain socket (the bridge into a
 * network namespace, see netns.ts). Delays keep the order of the bytes in each direction:
 * a chunk is never forwarded before one that arrived earlier on the same connection and
 * direction, so a chunk whose own draw is short waits behind a longer one.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole';

/**
 * Which way a delay applies: 'upstream' (client to target), 'downstream' (target to
 * client) or 'both'. One direction is what `netem` on one host's interface does.
 */
export type ProxyDirection = 'both' | 'upstream' | 'downstream';

/** Where the proxy forwards to: a port on 127.0.0.1, or a Unix-domain socket path. */
export type ProxyTarget = number | { path: string };

/** One direction of one connection: chunks waiting for their delivery time, in order. */
class DelayLine {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private lastDue = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly to: Socket,
    private readonly proxy: FaultProxy,
  ) {
    to.once('close', () => this.clear());
  }

  push(chunk: Buffer, delayMs: number): void {
    if (delayMs <= 0 && this.queue.length === 0) {
      if (this.to.writable) this.to.write(chunk);
      return;
    }
    const due = Math.max(performance.now() + delayMs, this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    if (this.queue.length === 1) this.schedule();
  }

  private schedule(): void {
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(() => this.drain(), Math.max(0, head.due - performance.now()));
  }

  private drain(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0].due <= now + 1) {
      const { chunk } = this.queue.shift() as { chunk: Buffer };
      // Bytes still in flight when the proxy is black-holed are lost with it.
      if (this.proxy.mode === 'blackhole') continue;
      if (this.to.writable) this.to.write(chunk);
    }
    this.schedule();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

export class FaultProxy {
  mode: ProxyMode = 'pass';
  /** Fixed delay per chunk (ms); used when no jitter is set. */
  delayMs = 0;
  /** Per-chunk delay drawn uniformly from [min, max] ms, or undefined. */
  jitterMs: readonly [number, number] | undefined;
  /** The direction(s) the delay or jitter applies to. */
  delayDirection: ProxyDirection = 'both';
  /** Connections accepted, chunks forwarded (both directions), and how many chunks waited for a delay. */
  readonly stats = { connections: 0, chunks: 0, delayed: 0 };
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket; lines: DelayLine[] }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** The upstream TCP port on 127.0.0.1 (0 when the upstream is a Unix socket). */
    readonly targetPort: number,
    /** The upstream Unix socket path, if the upstream is one. */
    readonly targetPath?: string,
  ) {}

  /** 'host:port' for clients. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listens on a free port of 127.0.0.1 and forwards to `target`. */
  static async start(target: ProxyTarget): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.onConnection(client));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    if (!addr || typeof addr !== 'object') throw new Error('proxy has no address');
    proxy =
      typeof target === 'number'
        ? new FaultProxy(server, addr.port, target)
        : new FaultProxy(server, addr.port, 0, target.path);
    return proxy;
  }

  private onConnection(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket; lines: DelayLine[] } = { client, lines: [] };
    this.pairs.add(pair);
    this.stats.connections++;
    client.on('error', () => undefined);
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (this.mode === 'blackhole') return; // hold it open, forward nothing
    const upstream =
      this.targetPath !== undefined ? tcpConnect(this.targetPath) : tcpConnect(this.targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    pair.lines.push(this.pipe(client, upstream, 'upstream'), this.pipe(upstream, client, 'downstream'));
  }

  private pipe(from: Socket, to: Socket, direction: 'upstream' | 'downstream'): DelayLine {
    const line = new DelayLine(to, this);
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return; // dropped
      const delay = this.delayDirection === 'both' || this.delayDirection === direction ? this.nextDelay() : 0;
      this.stats.chunks++;
      if (delay > 0) this.stats.delayed++;
      line.push(chunk, delay);
    });
    return line;
  }

  private nextDelay(): number {
    if (this.jitterMs) {
      const [min, max] = this.jitterMs;
      return min + Math.random() * (max - min);
    }
    return this.delayMs;
  }

  /** Forward traffic normally (no delay, no jitter). */
  pass(): void {
    this.mode = 'pass';
    this.delayMs = 0;
    this.jitterMs = undefined;
    this.delayDirection = 'both';
  }

  /**
   * Keep every connection open but forward nothing, in either direction; new connections
   * hang. Chunks still waiting out a delay are dropped too.
   */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  /** Delay every chunk by `ms`, in `direction` (default both; clears any jitter). */
  delay(ms: number, direction: ProxyDirection = 'both'): void {
    this.jitterMs = undefined;
    this.delayMs = ms;
    this.delayDirection = direction;
  }

  /**
   * Delay every chunk in `direction` (default both) by a time drawn uniformly from
   * [minMs, maxMs], independently per chunk, keeping the order of each direction (a chunk
   * waits behind an earlier, slower one).
   */
  jitter(minMs: number, maxMs: number, direction: ProxyDirection = 'both'): void {
    if (!(minMs >= 0 && maxMs >= minMs)) throw new Error(`jitter: need 0 <= min <= max, got ${minMs}, ${maxMs}`);
    this.jitterMs = [minMs, maxMs];
    this.delayDirection = direction;
  }

  /** Destroy every open connection (new ones are still accepted in the current mode). */
  cut(): void {
    for (const p of this.pairs) {
      for (const l of p.lines) l.clear();
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

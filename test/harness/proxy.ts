/**
 * A TCP fault proxy on loopback between a client and etcd: pass traffic, add delay,
 * black-hole (accept and hold connections, forward nothing), or cut every connection.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole';

export class FaultProxy {
  mode: ProxyMode = 'pass';
  delayMs = 0;
  private readonly pairs = new Set<{ client: Socket; upstream?: Socket }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly targetPort: number,
  ) {}

  /** 'host:port' for clients. */
  get endpoint(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.onConnection(client));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    if (!addr || typeof addr !== 'object') throw new Error('proxy has no address');
    proxy = new FaultProxy(server, addr.port, targetPort);
    return proxy;
  }

  private onConnection(client: Socket): void {
    const pair: { client: Socket; upstream?: Socket } = { client };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (this.mode === 'blackhole') return; // hold it open, forward nothing
    const upstream = tcpConnect(this.targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  private pipe(from: Socket, to: Socket): void {
    from.on('data', (chunk) => {
      if (this.mode === 'blackhole') return; // dropped
      if (this.delayMs > 0) setTimeout(() => to.writable && to.write(chunk), this.delayMs);
      else if (to.writable) to.write(chunk);
    });
  }

  /** Forward traffic normally. */
  pass(): void {
    this.mode = 'pass';
    this.delayMs = 0;
  }

  /** Keep every connection open but forward nothing, in either direction; new connections hang. */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  /** Delay every chunk by `ms` in each direction. */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Destroy every open connection (new ones are still accepted in the current mode). */
  cut(): void {
    for (const p of this.pairs) {
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

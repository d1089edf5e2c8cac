/**
 * etcd's server-side Lock and Election services (v3lock, v3election), and the lease calls
 * they need, through the JSON gateway on a member's client port. One keep-alive HTTP
 * agent, so a call is one request on an open connection, like a gRPC call. Blocking calls
 * (lock, campaign) have no timeout: etcd answers when the turn comes.
 */
import * as http from 'node:http';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** A leader as the Election service names it (pass it back to proclaim/resign). */
export interface GatewayLeader {
  readonly name: string;
  readonly key: string;
  readonly rev: string;
  readonly lease: string;
}

/** A client of one member's gateway. */
export class Gateway {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  /** Requests sent, for request counts. */
  requests = 0;

  constructor(readonly port: number) {}

  /** POSTs JSON and parses the answer; rejects on an HTTP or gateway error. */
  post(path: string, body: unknown): Promise<any> {
    this.requests++;
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          let out = '';
          res.setEncoding('utf8');
          res.on('data', (c) => {
            out += c;
          });
          res.on('end', () => {
            try {
              const json = JSON.parse(out);
              if (res.statusCode !== 200 || json.error) reject(new Error(`${path}: ${res.statusCode} ${out}`));
              else resolve(json);
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  /** Grants a lease; its decimal id. */
  async grant(ttl: number): Promise<string> {
    return (await this.post('/v3/lease/grant', { TTL: ttl })).ID;
  }

  /** One keepalive of a lease. */
  async keepAlive(id: string): Promise<void> {
    await this.post('/v3/lease/keepalive', { ID: id });
  }

  /** Revokes a lease. */
  async revoke(id: string): Promise<void> {
    await this.post('/v3/lease/revoke', { ID: id });
  }

  /** Waits for the lock `name` on `lease`; the owner key (base64). */
  async lock(name: string, lease: string): Promise<string> {
    return (await this.post('/v3/lock/lock', { name: b64(name), lease })).key;
  }

  /** Releases a lock by its owner key (base64). */
  async unlock(key: string): Promise<void> {
    await this.post('/v3/lock/unlock', { key });
  }

  /** Waits until elected in `name` on `lease` with `value`. */
  async campaign(name: string, lease: string, value: string): Promise<GatewayLeader> {
    return (await this.post('/v3/election/campaign', { name: b64(name), lease, value: b64(value) })).leader;
  }

  /** Resigns a leadership. */
  async resign(leader: GatewayLeader): Promise<void> {
    await this.post('/v3/election/resign', { leader });
  }

  /** Replaces the leader's value. */
  async proclaim(leader: GatewayLeader, value: string): Promise<void> {
    await this.post('/v3/election/proclaim', { leader, value: b64(value) });
  }

  /**
   * Streams the leader's value of `name` (Election.Observe): `onValue` is called with every
   * value etcd reports. Returns a function that ends the stream.
   */
  observe(name: string, onValue: (value: string) => void): () => void {
    this.requests++;
    const req = http.request(
      { host: '127.0.0.1', port: this.port, path: '/v3/election/observe', method: 'POST' },
      (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line) continue;
            const kv = JSON.parse(line).result?.kv;
            if (kv?.value !== undefined) onValue(Buffer.from(kv.value, 'base64').toString());
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('error', () => {});
    req.end(JSON.stringify({ name: b64(name) }));
    return () => req.destroy();
  }

  /** Closes the idle connections. */
  close(): void {
    this.agent.destroy();
  }
}

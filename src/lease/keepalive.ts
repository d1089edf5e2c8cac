/**
 * One LeaseKeepAlive stream per coordinator, shared by all of its sessions.
 *
 * Each lease sends a keepalive every `intervalMs` on the shared stream. Answers come back
 * in order per lease, so each answer is matched with the send time of the oldest
 * unanswered keepalive of its lease: the session's local deadline is computed from that
 * send time, never from the time the answer arrived. A broken stream is reopened with
 * jittered exponential backoff; keepalives sent on the old stream are forgotten.
 * @module
 */
import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import type { Logger } from 'pino';

/** How long a keepalive may stay unanswered before the stream is given up and reopened. */
export const KEEPALIVE_ANSWER_TIMEOUT_MS = 2000;

/** A lease kept alive on the shared stream. @internal */
export interface KeepAliveMember {
  /** Lease id, decimal. */
  readonly id: string;
  readonly intervalMs: number;
  /** etcd answered a keepalive sent at `sentAt` (performance.now()) with `ttl` seconds left. */
  onAck(sentAt: number, ttl: number): void;
}

interface Slot {
  readonly member: KeepAliveMember;
  timer: NodeJS.Timeout | undefined;
  pending: number[];
}

type Stream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

/** @internal */
export class KeepAliveStream {
  private readonly slots = new Map<string, Slot>();
  private stream: Stream | undefined;
  private connecting = false;
  private closed = false;
  private backoffMs = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Keepalive requests sent, for diagnostics and benchmarks. */
  sent = 0;
  /** Streams opened, for diagnostics and benchmarks. */
  streamsOpened = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly logger: Logger,
  ) {}

  /** Starts keeping `member` alive. */
  add(member: KeepAliveMember): void {
    const slot: Slot = { member, timer: undefined, pending: [] };
    this.slots.set(member.id, slot);
    this.schedule(slot, member.intervalMs);
    this.ensureStream();
  }

  /** Stops keeping the lease alive (it then expires at its TTL unless revoked). */
  remove(id: string): void {
    const slot = this.slots.get(id);
    if (!slot) return;
    clearTimeout(slot.timer);
    this.slots.delete(id);
  }

  /** Sends a keepalive for the lease now, out of schedule. */
  kick(id: string): void {
    const slot = this.slots.get(id);
    if (slot) this.send(slot);
  }

  /** Ends the stream; members are dropped. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const s of this.slots.values()) clearTimeout(s.timer);
    this.slots.clear();
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }

  private schedule(slot: Slot, delay: number): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      this.send(slot);
      if (this.slots.get(slot.member.id) === slot) this.schedule(slot, slot.member.intervalMs);
    }, delay);
  }

  private send(slot: Slot): void {
    if (!this.stream) {
      this.ensureStream();
      return;
    }
    const oldest = slot.pending[0];
    if (oldest !== undefined && performance.now() - oldest > KEEPALIVE_ANSWER_TIMEOUT_MS) {
      // The stream takes keepalives but answers none (a hung connection): reopen it.
      this.onBroken(this.stream, new Error(`no keepalive answered within ${KEEPALIVE_ANSWER_TIMEOUT_MS} ms`));
      return;
    }
    try {
      this.stream.write({ ID: slot.member.id });
      slot.pending.push(performance.now());
      this.sent++;
    } catch (err) {
      this.logger.debug({ err }, 'keepalive write failed');
    }
  }

  private ensureStream(): void {
    if (this.stream || this.connecting || this.closed || this.reconnectTimer || this.slots.size === 0) return;
    this.connecting = true;
    this.client.leaseClient.leaseKeepAlive().then(
      (stream) => {
        this.connecting = false;
        if (this.closed) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        this.streamsOpened++;
        stream.on('data', (res: ILeaseKeepAliveResponse) => {
          if (this.stream === stream) this.onResponse(res); // never a late answer of a broken stream
        });
        stream.on('error', (err: Error) => this.onBroken(stream, err));
        stream.on('end', () => this.onBroken(stream, new Error('keepalive stream ended')));
        for (const slot of this.slots.values()) {
          slot.pending = [];
          this.send(slot);
        }
      },
      (err: Error) => {
        this.connecting = false;
        this.scheduleReconnect(err);
      },
    );
  }

  private onResponse(res: ILeaseKeepAliveResponse): void {
    this.backoffMs = 0;
    const slot = this.slots.get(String(res.ID));
    if (!slot) return;
    const sentAt = slot.pending.shift();
    const ttl = Number(res.TTL);
    // An answer we cannot date must not extend the deadline (dating it "now" would be
    // later than the send); one that says the lease is gone still counts.
    if (sentAt === undefined && ttl > 0) return;
    try {
      slot.member.onAck(sentAt ?? 0, ttl);
    } catch (err) {
      this.logger.error({ err }, 'keepalive handler threw');
    }
  }

  private onBroken(stream: Stream, err: Error): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.cancel();
    for (const slot of this.slots.values()) slot.pending = [];
    if (this.closed) return;
    this.logger.debug({ err: err.message }, 'keepalive stream broken');
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: Error): void {
    if (this.closed) return;
    this.backoffMs = Math.min(2000, Math.max(50, this.backoffMs * 2));
    const delay = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.logger.debug({ err: err.message, delay }, 'keepalive stream reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensureStream();
    }, delay);
  }
}

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
import type { Etcd3, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Logger } from 'pino';
import { StreamLink } from '../stream.js';

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

/** @internal */
export class KeepAliveStream {
  private readonly slots = new Map<string, Slot>();
  private readonly link: StreamLink<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  private readonly logger: Logger;
  /** Keepalive requests sent, for diagnostics and benchmarks. */
  sent = 0;

  constructor(client: Etcd3, logger: Logger) {
    this.link = new StreamLink({
      name: 'keepalive',
      logger,
      open: () => client.leaseClient.leaseKeepAlive(),
      wanted: () => this.slots.size > 0,
      onOpen: () => {
        for (const slot of this.slots.values()) {
          slot.pending = [];
          this.send(slot);
        }
      },
      onData: (res) => this.onResponse(res),
      onBroken: () => {
        for (const slot of this.slots.values()) slot.pending = [];
      },
      backoff: { minMs: 50, maxMs: 2000 },
      // A stream that takes keepalives but answers none (a frozen etcd, a hung connection) is reopened.
      answerMs: KEEPALIVE_ANSWER_TIMEOUT_MS,
    });
    this.logger = logger;
  }

  /** Streams opened, for diagnostics and benchmarks. */
  get streamsOpened(): number {
    return this.link.opened;
  }

  /** Streams given up because etcd stopped answering, for diagnostics. */
  get silentFailures(): number {
    return this.link.silentFailures;
  }

  /** Leases kept alive now, for diagnostics. */
  get leases(): number {
    return this.slots.size;
  }

  /** Starts keeping `member` alive. */
  add(member: KeepAliveMember): void {
    const slot: Slot = { member, timer: undefined, pending: [] };
    this.slots.set(member.id, slot);
    this.schedule(slot, member.intervalMs);
    this.link.ensure();
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
    for (const s of this.slots.values()) clearTimeout(s.timer);
    this.slots.clear();
    this.link.close();
  }

  private schedule(slot: Slot, delay: number): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      this.send(slot);
      if (this.slots.get(slot.member.id) === slot) this.schedule(slot, slot.member.intervalMs);
    }, delay);
  }

  private send(slot: Slot): void {
    if (!this.link.isOpen) {
      this.link.ensure();
      return;
    }
    if (this.link.write({ ID: slot.member.id })) {
      slot.pending.push(performance.now());
      this.sent++;
      this.link.expectAnswer();
    }
  }

  private onResponse(res: ILeaseKeepAliveResponse): void {
    this.link.answered();
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
}

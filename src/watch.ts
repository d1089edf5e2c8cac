/**
 * One watch stream per coordinator, shared by every watcher in it.
 *
 * - The stream stays open while the coordinator lives, so a handoff never pays for a
 *   new stream (etcd3's own watch manager closes the stream whenever its last watcher
 *   goes and opens a new one for the next).
 * - Watch ids are chosen by the client (etcd >= 3.4), so creates need not be serialised.
 * - After a disconnect every watcher is re-created from its last seen revision + 1: no gap
 *   and no duplicate. When that revision was compacted the watcher is told
 *   (`onCompacted`) and ends; its owner re-reads and watches again.
 * - No answer from etcd is dropped. etcd answers the creates of one stream in the order
 *   they were sent, so each `created` answer is matched with the oldest create still
 *   unanswered, even when etcd refuses it with `watch_id: -1` (etcd 3.4 does that for
 *   permission and auth refusals). A refusal goes to the watcher that asked; an answer
 *   that matches no create gives the stream up. Events for a watch id the client has
 *   cancelled are late and dropped on purpose.
 * - Auth: etcd checks the token a stream was opened with when a watch is created on it.
 *   A simple token expires (`--auth-token-ttl`, 300 s by default) and an etcd restart
 *   forgets them all, so a stream that outlives its token has every new watch refused
 *   with "invalid auth token". Such a refusal reopens the stream after a unary call
 *   through etcd3 (which re-authenticates when told the token is invalid), and every
 *   watcher resumes from its last revision + 1. Credentials etcd no longer accepts end
 *   every watcher with `onCanceled`. (The keepalive stream needs none of this: etcd 3.4
 *   does not check tokens on LeaseKeepAlive.)
 * - Freshness is proven: after {@link PROBE_IDLE_MS} of silence the stream asks etcd for
 *   progress (`progress_request`); a stream that leaves that or a create unanswered for
 *   {@link ANSWER_TIMEOUT_MS} is given up (every watcher is told `onDisconnected`, so a
 *   cache turns stale) and reopened.
 * @module
 */
import { type Etcd3, FilterType, type IWatchRequest, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { isAuthenticationError, mapEtcdError } from './errors.js';
import { prefixEnd } from './keys.js';
import { StreamLink } from './stream.js';

/** One key change. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** The full etcd key (with namespace), as UTF-8. */
  readonly key: string;
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  /** Lease id (decimal, as etcd3 returns it); '0' when none. */
  readonly lease: string;
  /** The key's previous state, when `prevKv` was asked for. */
  readonly prev?: { readonly value: Buffer; readonly createRevision: bigint; readonly lease: string };
}

/** What to watch. */
export interface WatchSpec {
  /** The key, or with `prefix` the prefix of the keys. */
  readonly key: string | Buffer;
  readonly prefix?: boolean;
  /** With no `prefix`: watch the keys from `key` up to (not including) this one. */
  readonly rangeEnd?: string | Buffer;
  /** First revision to deliver. Callers pass the header revision of their read + 1. */
  readonly startRevision: bigint;
  readonly prevKv?: boolean;
  /** Deliver deletes only (etcd's `NOPUT` filter): for watchers that wait for a key to go. */
  readonly noPut?: boolean;
}

/** Callbacks of one watcher. None of them may throw (a throw is logged and ignored). */
export interface WatchHandlers {
  /** Events in revision order. */
  onEvents(events: WatchEvent[], headerRevision: bigint): void;
  /** The next revision was compacted; this watcher has ended. Re-read and watch again. */
  onCompacted?(compactRevision: bigint): void;
  /** etcd cancelled or refused this watcher (e.g. permission denied); it has ended. */
  onCanceled?(reason: string): void;
  /** The stream broke; the watcher resumes by itself after reconnecting. */
  onDisconnected?(err: Error): void;
  /**
   * The watcher is registered (for the first time, or again after a reconnect);
   * `revision` is etcd's current revision then. A start revision at or below it means
   * the watcher starts in the past (etcd's unsynced group, delivered in 100 ms batches).
   */
  onConnected?(revision: bigint): void;
}

/** A live watcher. */
export interface WatchHandle {
  /** Stops the watcher. Safe to call more than once. */
  cancel(): void;
}

interface Entry {
  readonly id: number;
  readonly spec: WatchSpec;
  readonly handlers: WatchHandlers;
  next: bigint;
}

/** How long a create or progress request may stay unanswered before the stream is given up and reopened. */
export const ANSWER_TIMEOUT_MS = 1500;
/** How long the stream may stay silent before it asks etcd for progress. */
export const PROBE_IDLE_MS = 750;
/** etcd's watch id for an answer that belongs to no watch (a refused create, a progress answer). */
const NO_WATCH = -1;
const AUTH_REFUSAL = /invalid auth token|code = Unauthenticated|auth: revision in header is old/i;

/** The shared watch stream of one coordinator. @internal */
export class WatchHub {
  private readonly entries = new Map<number, Entry>();
  private readonly link: StreamLink<IWatchRequest, IWatchResponse>;
  private readonly logger: Logger;
  private nextId = 1;
  /** Ids of the creates sent on the current stream that etcd has not answered yet, oldest first. */
  private pendingCreates: number[] = [];
  /** The stream was refused for its token: get a fresh one before the next open. */
  private tokenRefused = false;
  /** Number of watch events received, for diagnostics and benchmarks. */
  eventsReceived = 0;

  constructor(
    private readonly client: Etcd3,
    logger: Logger,
  ) {
    this.logger = logger;
    this.link = new StreamLink({
      name: 'watch',
      logger,
      open: () => this.open(),
      wanted: () => this.entries.size > 0,
      onOpen: () => {
        for (const e of this.entries.values()) this.create(e);
      },
      onData: (res) => this.onResponse(res),
      onBroken: (err) => {
        this.pendingCreates = [];
        for (const e of [...this.entries.values()]) call(this.logger, () => e.handlers.onDisconnected?.(err));
      },
      backoff: { minMs: 100, maxMs: 1000 },
      answerMs: ANSWER_TIMEOUT_MS,
      probe: { idleMs: PROBE_IDLE_MS, send: () => this.write({ progress_request: {} }) },
    });
  }

  /** Streams given up because etcd stopped answering, for diagnostics. */
  get silentFailures(): number {
    return this.link.silentFailures;
  }

  /** Streams opened (the first and every reopen), for diagnostics. */
  get streamsOpened(): number {
    return this.link.opened;
  }

  /** Watchers open now, for diagnostics. */
  get watchers(): number {
    return this.entries.size;
  }

  /** Starts a watcher. */
  watch(spec: WatchSpec, handlers: WatchHandlers): WatchHandle {
    const entry: Entry = { id: this.nextId++, spec, handlers, next: spec.startRevision };
    this.entries.set(entry.id, entry);
    if (this.link.isOpen) this.create(entry);
    else this.link.ensure();
    return {
      cancel: () => {
        if (!this.entries.delete(entry.id)) return;
        this.write({ cancel_request: { watch_id: entry.id } });
      },
    };
  }

  /** Ends the stream and forgets every watcher. */
  close(): void {
    this.entries.clear();
    this.link.close();
  }

  private async open() {
    if (this.tokenRefused) await this.refreshToken();
    return this.client.watchClient.watch();
  }

  /**
   * etcd3 keeps one auth token for unary calls and streams alike, and replaces it only
   * when a unary call is told it is invalid. A small read makes it do so. Credentials
   * that etcd rejects outright end every watcher: waiting cannot fix them.
   */
  private async refreshToken(): Promise<void> {
    this.tokenRefused = false;
    const first = this.entries.values().next().value;
    if (!first) return;
    try {
      await this.client.kv.range({ key: Buffer.from(first.spec.key), count_only: true });
    } catch (err) {
      const mapped = mapEtcdError(err, 'watch: renewing the auth token');
      this.logger.warn({ err: mapped }, 'watch stream could not renew its auth token');
      if (isAuthenticationError(mapped)) this.endAll(mapped.message);
    }
  }

  private endAll(reason: string): void {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) call(this.logger, () => e.handlers.onCanceled?.(reason));
  }

  private write(msg: IWatchRequest): boolean {
    return this.link.write(msg);
  }

  private create(entry: Entry): void {
    const key = Buffer.from(entry.spec.key);
    const sent = this.write({
      create_request: {
        key,
        range_end: entry.spec.prefix
          ? prefixEnd(key)
          : entry.spec.rangeEnd !== undefined
            ? Buffer.from(entry.spec.rangeEnd)
            : undefined,
        start_revision: entry.next.toString(),
        prev_kv: entry.spec.prevKv ?? false,
        filters: entry.spec.noPut ? [FilterType.Noput] : undefined,
        progress_notify: true,
        watch_id: entry.id,
      },
    });
    if (!sent) return;
    this.pendingCreates.push(entry.id);
    this.link.expectAnswer();
  }

  private onResponse(res: IWatchResponse): void {
    const id = Number(res.watch_id);
    if (res.created) {
      this.onCreated(res, id);
      return;
    }
    const entry = this.entries.get(id);
    if (!entry) {
      // A progress answer (no watch id) proves the stream alive. Anything else for no
      // watch we know is a late answer to a watch we cancelled, unless it is a refusal.
      if (id === NO_WATCH && res.canceled)
        this.link.reopen(new Error(`watch stream: unmatched cancel: ${reason(res)}`));
      return;
    }
    if (res.canceled) {
      this.entries.delete(entry.id);
      const compact = BigInt(res.compact_revision ?? 0);
      if (compact > 0n) call(this.logger, () => entry.handlers.onCompacted?.(compact));
      else call(this.logger, () => entry.handlers.onCanceled?.(reason(res)));
      return;
    }
    if (!res.events?.length) return; // progress notification
    this.eventsReceived += res.events.length;
    const events: WatchEvent[] = res.events.map((ev) => {
      const kv = ev.kv;
      const prev = ev.prev_kv;
      return {
        type: String(ev.type).toLowerCase() === 'delete' ? 'delete' : 'put',
        key: kv.key.toString(),
        value: kv.value,
        createRevision: BigInt(kv.create_revision),
        modRevision: BigInt(kv.mod_revision),
        lease: String(kv.lease ?? '0'),
        prev: prev
          ? { value: prev.value, createRevision: BigInt(prev.create_revision), lease: String(prev.lease ?? '0') }
          : undefined,
      };
    });
    entry.next = events[events.length - 1].modRevision + 1n;
    call(this.logger, () => entry.handlers.onEvents(events, BigInt(res.header.revision)));
  }

  /** An answer to a create: matched with the oldest create still unanswered. */
  private onCreated(res: IWatchResponse, id: number): void {
    const asked = this.pendingCreates.shift();
    if (asked === undefined || (id !== NO_WATCH && id !== asked)) {
      this.link.reopen(new Error(`watch stream: an answer for watch ${id} matches no create (expected ${asked})`));
      return;
    }
    if (res.canceled && AUTH_REFUSAL.test(reason(res))) {
      // The stream's token is no longer valid: every create on it would be refused.
      this.logger.info({ reason: reason(res) }, 'watch refused for its auth token; reopening with a fresh one');
      this.tokenRefused = true;
      this.link.reopen(new Error(`watch refused: ${reason(res)}`));
      return;
    }
    const entry = this.entries.get(asked);
    if (!entry) return; // cancelled by the client before etcd answered
    if (res.canceled) {
      this.entries.delete(entry.id);
      call(this.logger, () => entry.handlers.onCanceled?.(reason(res)));
      return;
    }
    this.link.answered();
    call(this.logger, () => entry.handlers.onConnected?.(BigInt(res.header.revision)));
  }
}

function reason(res: IWatchResponse): string {
  return res.cancel_reason || 'canceled by etcd';
}

function call(logger: Logger, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err }, 'watch handler threw');
  }
}

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
 * - Responses for unknown watch ids are ignored, never thrown: a watch that etcd has
 *   cancelled and the client cancels again is harmless.
 * @module
 */
import type { Etcd3, IWatchRequest, IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
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
  /** First revision to deliver. Callers pass the header revision of their read + 1. */
  readonly startRevision: bigint;
  readonly prevKv?: boolean;
}

/** Callbacks of one watcher. None of them may throw (a throw is logged and ignored). */
export interface WatchHandlers {
  /** Events in revision order. */
  onEvents(events: WatchEvent[], headerRevision: bigint): void;
  /** The next revision was compacted; this watcher has ended. Re-read and watch again. */
  onCompacted?(compactRevision: bigint): void;
  /** etcd cancelled this watcher (e.g. permission denied); it has ended. */
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

/** How long a watch create request may stay unanswered before the stream is given up and reopened. */
export const ANSWER_TIMEOUT_MS = 3000;

/** The shared watch stream of one coordinator. @internal */
export class WatchHub {
  private readonly entries = new Map<number, Entry>();
  private readonly link: StreamLink<IWatchRequest, IWatchResponse>;
  private readonly logger: Logger;
  private nextId = 1;
  /** Create requests on the current stream that etcd has not answered yet. */
  private unanswered = 0;
  private watchdog: NodeJS.Timeout | undefined;
  /** Number of watch events received, for diagnostics and benchmarks. */
  eventsReceived = 0;

  constructor(client: Etcd3, logger: Logger) {
    this.logger = logger;
    this.link = new StreamLink({
      name: 'watch',
      logger,
      open: () => client.watchClient.watch(),
      wanted: () => this.entries.size > 0,
      onOpen: () => {
        for (const e of this.entries.values()) this.create(e);
      },
      onData: (res) => this.onResponse(res),
      onBroken: (err) => {
        this.unanswered = 0;
        clearTimeout(this.watchdog);
        this.watchdog = undefined;
        for (const e of [...this.entries.values()]) call(this.logger, () => e.handlers.onDisconnected?.(err));
      },
      backoff: { minMs: 100, maxMs: 5000 },
    });
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
    clearTimeout(this.watchdog);
    this.entries.clear();
    this.link.close();
  }

  private write(msg: IWatchRequest): void {
    this.link.write(msg);
  }

  private create(entry: Entry): void {
    const key = Buffer.from(entry.spec.key);
    this.unanswered++;
    this.armWatchdog();
    this.write({
      create_request: {
        key,
        range_end: entry.spec.prefix ? prefixEnd(key) : undefined,
        start_revision: entry.next.toString(),
        prev_kv: entry.spec.prevKv ?? false,
        watch_id: entry.id,
      },
    });
  }

  /**
   * A stream whose connection hangs (a black-holed network accepts the connection and
   * never answers; gRPC would wait for its keepalive, or for ever while connecting) is
   * given up when a create request stays unanswered for {@link ANSWER_TIMEOUT_MS}.
   */
  private armWatchdog(): void {
    if (this.watchdog || this.unanswered === 0) return;
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (this.unanswered > 0) this.link.fail(new Error(`no answer to a watch request within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    this.watchdog.unref?.();
  }

  private onResponse(res: IWatchResponse): void {
    if (res.created && this.unanswered > 0) this.unanswered--;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.armWatchdog();
    const entry = this.entries.get(Number(res.watch_id));
    if (!entry) return;
    if (res.created && !res.canceled) {
      this.link.answered();
      call(this.logger, () => entry.handlers.onConnected?.(BigInt(res.header.revision)));
    }
    if (res.canceled) {
      this.entries.delete(entry.id);
      const compact = BigInt(res.compact_revision ?? 0);
      if (compact > 0n) call(this.logger, () => entry.handlers.onCompacted?.(compact));
      else call(this.logger, () => entry.handlers.onCanceled?.(res.cancel_reason || 'canceled by etcd'));
      return;
    }
    if (!res.events?.length) return;
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
}

function call(logger: Logger, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err }, 'watch handler threw');
  }
}

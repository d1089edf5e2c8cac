/**
 * One long-lived gRPC duplex stream, reopened after it breaks. The lifecycle shared by
 * the keepalive stream and the watch stream: open on demand, ignore late messages of a
 * stream that was already replaced, reopen with jittered exponential backoff, give up a
 * stream on request (e.g. when it stops answering), and close for good.
 * @internal
 * @module
 */
import type { Logger } from 'pino';

/** The part of an etcd3 duplex stream this needs. */
export interface DuplexStream<Req, Res> {
  write(message: Req): unknown;
  cancel(): void;
  on(event: 'data', listener: (res: Res) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** What the owner of a {@link StreamLink} does at each step. */
export interface StreamLinkOptions<Req, Res> {
  /** For log messages, e.g. 'watch'. */
  readonly name: string;
  readonly logger: Logger;
  /** Opens a new stream (etcd3's `watchClient.watch()`, `leaseClient.leaseKeepAlive()`). */
  open(): Promise<DuplexStream<Req, Res>>;
  /** Whether a stream is wanted now (there is something to send or listen for). */
  wanted(): boolean;
  /** A stream was opened: send what the new stream must know. */
  onOpen(): void;
  /** A message of the current stream. */
  onData(res: Res): void;
  /** The current stream broke (or was given up); a new one is opened after a backoff. */
  onBroken(err: Error): void;
  /** Reconnect backoff bounds, ms. */
  readonly backoff: { readonly minMs: number; readonly maxMs: number };
}

/** @internal */
export class StreamLink<Req, Res> {
  private stream: DuplexStream<Req, Res> | undefined;
  private connecting = false;
  private closed = false;
  private backoffMs = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Streams opened so far. */
  opened = 0;

  constructor(private readonly o: StreamLinkOptions<Req, Res>) {}

  /** True while a stream is open. */
  get isOpen(): boolean {
    return this.stream !== undefined;
  }

  /** Writes on the current stream; false when there is none or the write failed. */
  write(message: Req): boolean {
    if (!this.stream) return false;
    try {
      this.stream.write(message);
      return true;
    } catch (err) {
      this.o.logger.debug({ err }, `${this.o.name} stream write failed`);
      return false;
    }
  }

  /** Opens a stream unless one is open, opening, or waiting out its backoff. */
  ensure(): void {
    if (this.stream || this.connecting || this.closed || this.reconnectTimer || !this.o.wanted()) return;
    this.connecting = true;
    this.o.open().then(
      (stream) => {
        this.connecting = false;
        if (this.closed) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        this.opened++;
        stream.on('data', (res: Res) => {
          if (this.stream === stream) this.o.onData(res); // never a late answer of a broken stream
        });
        stream.on('error', (err: Error) => this.broken(stream, err));
        stream.on('end', () => this.broken(stream, new Error(`${this.o.name} stream ended`)));
        this.o.onOpen();
      },
      (err: Error) => {
        this.connecting = false;
        this.scheduleReconnect(err);
      },
    );
  }

  /** The stream answered: the next reconnect starts from the smallest backoff again. */
  answered(): void {
    this.backoffMs = 0;
  }

  /** Gives up the current stream (e.g. it stopped answering) and reopens after a backoff. */
  fail(err: Error): void {
    if (this.stream) this.broken(this.stream, err);
  }

  /** Ends the stream for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }

  private broken(stream: DuplexStream<Req, Res>, err: Error): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.cancel(); // etcd3 then resets the host's channel, so a hung connection is dropped too
    if (this.closed) return;
    this.o.logger.debug({ err: err.message }, `${this.o.name} stream broken`);
    this.o.onBroken(err);
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: Error): void {
    if (this.closed) return;
    const { minMs, maxMs } = this.o.backoff;
    this.backoffMs = Math.min(maxMs, Math.max(minMs, this.backoffMs * 2));
    const delay = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.o.logger.debug({ err: err.message, delay }, `${this.o.name} stream reconnecting`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensure();
    }, delay);
    this.reconnectTimer.unref?.();
  }
}

/**
 * One long-lived gRPC duplex stream, reopened after it breaks. The lifecycle shared by
 * the keepalive stream and the watch stream: open on demand, ignore late messages of a
 * stream that was already replaced, reopen with jittered exponential backoff, give up a
 * stream on request, and close for good.
 *
 * Liveness is proven, not assumed: a request that etcd must answer starts a clock
 * ({@link StreamLink.expectAnswer}), and any message from etcd stops it. A stream that
 * stays silent past `answerMs` is given up and reopened (a frozen etcd or a hung
 * connection keeps a TCP connection open and answers nothing; gRPC's keepalive would
 * notice only after ~9 s). With `probe`, a stream silent for `idleMs` asks etcd for an
 * answer by itself, so silence is bounded even when nothing else is sent. The bound
 * adapts like TCP's retransmission timeout (RFC 6298): `answerMs` on a healthy link,
 * up to four times that when answers have been slow (a lossy, jittery network), so a
 * slow etcd is not mistaken for a frozen one.
 * @internal
 * @module
 */
import { ExponentialBackoff, halfJitterGenerator, type IBackoff } from 'cockatiel';
import type { Logger } from 'pino';

/** The part of an etcd3 duplex stream this needs. */
export interface DuplexStream<Req, Res> {
  write(message: Req): unknown;
  /** Half-closes the stream (no more writes). */
  end(): unknown;
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
  /** How long a request may stay unanswered before the stream is given up, ms (the floor; see above). */
  readonly answerMs: number;
  /**
   * Asks etcd for an answer after `idleMs` of silence (e.g. a watch progress request);
   * returns false when it could not send. Without it, only requests the owner sends
   * (and marks with {@link StreamLink.expectAnswer}) are timed.
   */
  readonly probe?: { readonly idleMs: number; send(): boolean };
}

/** @internal */
export class StreamLink<Req, Res> {
  private stream: DuplexStream<Req, Res> | undefined;
  private connecting = false;
  private closed = false;
  /** The reconnect delays: doubling from minMs to maxMs, each picked in its upper half. */
  private readonly backoffs: ExponentialBackoff<number>;
  /** The delay before the last reconnect; undefined until a stream breaks, and after an answer. */
  private backoff: IBackoff<unknown> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** When the current stream last delivered a message (performance.now()). */
  private heardAt = 0;
  /** When the oldest request still unanswered was sent; undefined when none is. */
  private waitingSince: number | undefined;
  private livenessTimer: NodeJS.Timeout | undefined;
  /** Smoothed answer time and its variation (RFC 6298), ms; undefined before the first answer. */
  private srtt: number | undefined;
  private rttvar = 0;
  /** Streams opened so far. */
  opened = 0;
  /** Streams given up because etcd left a request unanswered for `answerMs`. */
  silentFailures = 0;

  constructor(private readonly o: StreamLinkOptions<Req, Res>) {
    this.backoffs = new ExponentialBackoff({
      initialDelay: o.backoff.minMs,
      maxDelay: o.backoff.maxMs,
      generator: halfJitterGenerator,
    });
  }

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
        this.heardAt = performance.now();
        this.waitingSince = undefined;
        stream.on('data', (res: Res) => {
          if (this.stream !== stream) return; // never a late answer of a broken stream
          this.heardAt = performance.now();
          if (this.waitingSince !== undefined) {
            this.noteAnswerTime(this.heardAt - this.waitingSince);
            this.waitingSince = undefined;
            this.rearmLiveness(); // the timer was set for the answer; the next probe is due sooner
          }
          this.o.onData(res);
        });
        stream.on('error', (err: Error) => this.broken(stream, err));
        stream.on('end', () => this.broken(stream, new Error(`${this.o.name} stream ended`)));
        this.o.onOpen();
        this.armLiveness();
      },
      (err: Error) => {
        this.connecting = false;
        this.scheduleReconnect(err);
      },
    );
  }

  /**
   * A request that etcd must answer was just sent: unless some message arrives within
   * `answerMs`, the stream is given up and reopened.
   */
  expectAnswer(): void {
    if (this.waitingSince !== undefined || !this.stream) return;
    this.waitingSince = performance.now();
    this.rearmLiveness(); // the timer may be set for a later probe
  }

  /** The stream answered: the next reconnect starts from the smallest backoff again. */
  answered(): void {
    this.backoff = undefined;
  }

  /**
   * Gives up the current stream because it stopped answering (a frozen etcd, a hung
   * connection) and reopens after a backoff. The cancel makes etcd3 reset the host's
   * channel, so the next stream and calls use a fresh connection.
   */
  fail(err: Error): void {
    if (this.stream) this.broken(this.stream, err);
  }

  /**
   * Gives up the current stream for a reason etcd answered with (its auth token refused,
   * an answer that matches nothing), and reopens after a backoff. The connection works,
   * so the stream is half-closed before it is cancelled: etcd3 then leaves the host's
   * channel alone, and the other streams and calls on it go on.
   */
  reopen(err: Error): void {
    if (this.stream) this.broken(this.stream, err, true);
  }

  /** Ends the stream for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.livenessTimer);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }

  private broken(stream: DuplexStream<Req, Res>, err: Error, connectionWorks = false): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.waitingSince = undefined;
    // etcd3 resets the host's channel when a stream that is still writable errors (the
    // cancel does): right for a hung connection, which is dropped too; a stream ended
    // first is not writable, and the channel, with every other stream on it, stays.
    if (connectionWorks) stream.end();
    stream.cancel();
    if (this.closed) return;
    this.o.logger.debug({ err: err.message }, `${this.o.name} stream broken`);
    this.o.onBroken(err);
    this.scheduleReconnect(err);
  }

  /**
   * One lazy timer: messages only record when they came, and the timer, when it fires,
   * works out what is due (give up, probe, or sleep until the next deadline).
   */
  private armLiveness(): void {
    if (this.livenessTimer || !this.stream) return;
    const due = this.nextDue();
    if (due === undefined) return;
    this.livenessTimer = setTimeout(() => this.checkLiveness(), Math.max(0, due - performance.now()));
    this.livenessTimer.unref?.();
  }

  /** How long a request may stay unanswered now: srtt + 4 × rttvar, within [answerMs, 4 × answerMs]. */
  get answerBoundMs(): number {
    const floor = this.o.answerMs;
    if (this.srtt === undefined) return floor;
    return Math.min(4 * floor, Math.max(floor, this.srtt + 4 * this.rttvar));
  }

  private noteAnswerTime(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  private rearmLiveness(): void {
    clearTimeout(this.livenessTimer);
    this.livenessTimer = undefined;
    this.armLiveness();
  }

  private nextDue(): number | undefined {
    if (this.waitingSince !== undefined) return this.waitingSince + this.answerBoundMs;
    if (this.o.probe && this.o.wanted()) return this.heardAt + this.o.probe.idleMs;
    return undefined;
  }

  private checkLiveness(): void {
    this.livenessTimer = undefined;
    if (!this.stream) return;
    const now = performance.now();
    const bound = this.answerBoundMs;
    if (this.waitingSince !== undefined && now - this.waitingSince >= bound) {
      this.silentFailures++;
      this.fail(new Error(`${this.o.name} stream: no answer from etcd within ${Math.round(bound)} ms`));
      return;
    }
    const probe = this.o.probe;
    if (this.waitingSince === undefined && probe && this.o.wanted() && now - this.heardAt >= probe.idleMs) {
      if (probe.send()) this.waitingSince = now;
    }
    this.armLiveness();
  }

  private scheduleReconnect(err: Error): void {
    if (this.closed) return;
    this.backoff = this.backoff ? this.backoff.next(undefined) : this.backoffs.next();
    const delay = this.backoff.duration;
    this.o.logger.debug({ err: err.message, delay }, `${this.o.name} stream reconnecting`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.ensure();
    }, delay);
    this.reconnectTimer.unref?.();
  }
}

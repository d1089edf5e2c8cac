/**
 * Server-sent events to every open page: the latest message of each kind is kept and
 * replayed to a page that connects, a heartbeat shows the link is alive, and a page that
 * goes away (or stops reading) is forgotten.
 * @module
 */
import type { ServerResponse } from 'node:http';

/** A page that reads slower than this many buffered bytes is dropped (it reconnects and gets the latest state). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Options of {@link SseChannel}. */
export interface SseOptions {
  /** How often a `ping` event is sent, in ms. */
  readonly heartbeatMs: number;
  /** The kinds of event whose latest message a new page gets, in this order. */
  readonly replay: readonly string[];
}

/** The `text/event-stream` responses of the open pages. */
export class SseChannel {
  private readonly clients = new Set<ServerResponse>();
  private readonly latest = new Map<string, string>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: SseOptions) {
    this.heartbeat = setInterval(
      () => this.publish('ping', JSON.stringify({ serverTime: new Date() })),
      options.heartbeatMs,
    );
    this.heartbeat.unref();
  }

  /** How many pages are connected. */
  get size(): number {
    return this.clients.size;
  }

  /** The latest message of a replayed kind of event, if any. */
  latestOf(event: string): string | undefined {
    return this.latest.get(event);
  }

  /** Turns `res` into an event stream: the latest messages now, every later one as it comes. */
  attach(res: ServerResponse): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    for (const event of this.options.replay) {
      const data = this.latest.get(event);
      if (data !== undefined) write(res, event, data);
    }
    this.clients.add(res);
    // 'close' of the response: it ended, or the page's connection went away.
    const forget = () => this.clients.delete(res);
    res.on('close', forget);
    res.on('error', forget);
  }

  /** Sends `data` (one line of JSON) as an `event` to every page, and keeps it for new pages. */
  publish(event: string, data: string): void {
    if (this.closed) return;
    if (this.options.replay.includes(event)) this.latest.set(event, data);
    for (const res of this.clients) {
      if (res.destroyed || res.writableEnded) {
        this.clients.delete(res);
      } else if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(res);
        res.destroy();
      } else {
        write(res, event, data);
      }
    }
  }

  /** Ends every stream and the heartbeat. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function write(res: ServerResponse, event: string, data: string): void {
  res.write(`event: ${event}\ndata: ${data}\n\n`);
}

/**
 * The dashboard's HTTP server (node:http): the static page, `/events` (server-sent events
 * of the live feed), and `/api/snapshot`, `/api/health`, `/api/status` (the latest of
 * each as JSON). Read only: every other method gets 405. Bound to loopback, it answers
 * only requests addressed to a loopback name (no DNS rebinding).
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CoordContext } from '../context.js';
import type { Coordinator } from '../index.js';
import type { WatchHub } from '../watch.js';
import { type Asset, loadAssets } from './assets.js';
import { type FeedTiming, LiveFeed } from './feed.js';
import { checkCluster } from './health.js';
import { DEFAULT_LISTEN, isLoopback, urlOf } from './listen.js';
import { type SnapshotSource, toJson } from './snapshot.js';
import { SseChannel } from './sse.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  readonly host?: string;
  /** TCP port; 0 picks a free one. Default 7070. */
  readonly port?: number;
  /** Show only keys under this prefix (relative to the namespace). Default '' (everything). */
  readonly prefix?: string;
  /** How often the page hears from the server even when nothing changes, in ms. Default 5000. */
  readonly heartbeatMs?: number;
  /** Re-read and health-check intervals. */
  readonly timing?: FeedTiming;
  /** Where snapshots come from. Default: the coordinator's `inspect()`. */
  readonly source?: SnapshotSource;
}

/** A running dashboard. */
export interface Dashboard {
  /** Its URL, e.g. 'http://127.0.0.1:7070/'. */
  readonly url: string;
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the chosen one when 0 was asked for). */
  readonly port: number;
  /** Whether it is reachable from this machine only. */
  readonly loopback: boolean;
  /** How many pages are connected to its event stream now. */
  readonly pages: number;
  /** Stops the feed (its watch and timers), ends every page's event stream, and closes the server. Safe twice. */
  close(): Promise<void>;
}

/** The SSE events a new page gets at once: the latest of each. */
const REPLAYED = ['status', 'health', 'snapshot'] as const;

/** Starts the dashboard of `coord`; resolves once it listens. */
export async function startDashboard(coord: Coordinator, options: DashboardOptions = {}): Promise<Dashboard> {
  const assets = await loadAssets();
  const host = options.host ?? DEFAULT_LISTEN.host;
  const loopback = isLoopback(host);
  const sse = new SseChannel({ heartbeatMs: options.heartbeatMs ?? 5000, replay: REPLAYED });
  const prefix = options.prefix ?? '';
  const scope = { namespace: coord.namespace, prefix };
  const feed = new LiveFeed(
    {
      source: options.source ?? coord,
      prefix,
      watch: watchHubOf(coord),
      watchPrefix: coord.namespace + prefix,
      checkHealth: () => checkCluster(coord),
    },
    {
      snapshot: (m) => sse.publish('snapshot', toJson({ ...m, scope })),
      health: (h) => sse.publish('health', toJson(h)),
      status: (s) => sse.publish('status', toJson(s)),
    },
    options.timing,
  );
  const server = createServer((req, res) => handle(req, res, { assets, sse, loopback }));
  try {
    await listen(server, host, options.port ?? DEFAULT_LISTEN.port);
  } catch (err) {
    sse.close();
    throw err;
  }
  feed.start();
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: urlOf(host, port),
    host,
    port,
    loopback,
    get pages() {
      return sse.size;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        feed.stop();
        sse.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/**
 * The coordinator's shared watch stream. The dashboard is part of the package and rides
 * on the one watch stream per coordinator (DESIGN.md) instead of opening its own; the
 * coordinator's context is internal, hence the cast.
 */
function watchHubOf(coord: Coordinator): WatchHub {
  return (coord as unknown as { readonly ctx: CoordContext }).ctx.watch;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.message;
      reject(new Error(`cannot listen on ${urlOf(host, port)}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

interface Routes {
  readonly assets: ReadonlyMap<string, Asset>;
  readonly sse: SseChannel;
  readonly loopback: boolean;
}

const HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

function handle(req: IncomingMessage, res: ServerResponse, routes: Routes): void {
  for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v);
  if (routes.loopback && !isLoopback(hostnameOf(req.headers.host))) {
    text(res, 403, 'This dashboard answers on loopback names only (localhost, 127.0.0.1, [::1]).\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    text(res, 405, 'The dashboard is read only.\n');
    return;
  }
  const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
  if (path === '/events') {
    routes.sse.attach(res);
    return;
  }
  const api = /^\/api\/(snapshot|health|status)$/.exec(path);
  if (api) {
    const latest = routes.sse.latestOf(api[1]);
    if (latest === undefined) text(res, 503, `no ${api[1]} yet\n`);
    else send(res, 200, 'application/json; charset=utf-8', Buffer.from(latest), req.method === 'HEAD');
    return;
  }
  const asset = routes.assets.get(path);
  if (asset) send(res, 200, asset.type, asset.body, req.method === 'HEAD');
  else text(res, 404, 'not found\n');
}

/** The host name of a Host header ('[::1]:7070' -> '::1'). */
function hostnameOf(header: string | undefined): string {
  if (!header) return '';
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header);
  return m ? m[1] : '';
}

function send(res: ServerResponse, status: number, type: string, body: Buffer, head: boolean): void {
  res.writeHead(status, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(head ? undefined : body);
}

function text(res: ServerResponse, status: number, body: string): void {
  send(res, status, 'text/plain; charset=utf-8', Buffer.from(body), false);
}

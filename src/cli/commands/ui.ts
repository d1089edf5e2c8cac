/**
 * `etcd-coord ui [--listen 127.0.0.1:7070] [--prefix P]`: the live, read-only web dashboard.
 * @module
 */
import { isLoopback, parseListen } from '../../ui/listen.js';
import { startDashboard } from '../../ui/server.js';
import { stringOption } from '../args.js';
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../exit.js';

/** `ui`: see the help text. */
export const uiCommand: Command = {
  name: 'ui',
  summary: 'serve a live, read-only web dashboard of locks, elections, services and health',
  synopsis: '[--listen HOST:PORT] [--prefix P]',
  positionals: [],
  options: { listen: { type: 'string' }, prefix: { type: 'string' } },
  help: `Serves a web dashboard that follows etcd live: every lock, semaphore and rwlock
queue with its holder and waiters (held and waited times, lease TTL left), every
election with its leader and candidates, every service with its instances
(draining ones, and ones that went down lately), and cluster health (members,
raft leader, db size, alarms). Read only. Updated from etcd watches and pushed to
the page; the page says 'stale' whenever it may be out of date (etcd unreachable,
watch broken, page cut off from this server).

Prints the URL on stdout, then serves until SIGINT or SIGTERM (exit 0).

Options:
  --listen HOST:PORT  where to listen (default 127.0.0.1:7070: this machine only).
                      'PORT' or ':PORT' is loopback too; other hosts need an explicit
                      address such as 0.0.0.0:7070 (no authentication: mind who can
                      reach it). Port 0 picks a free port.
  --prefix P          show only keys under P (after the namespace), e.g. 'jobs/'

Example:
  etcd-coord ui --namespace prod/ --listen 127.0.0.1:8080`,
  async run(inv) {
    let listen: ReturnType<typeof parseListen>;
    try {
      listen = parseListen(stringOption(inv.values, 'listen'));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const prefix = stringOption(inv.values, 'prefix') ?? '';
    const coord = await inv.connect();
    await coord.inspect(prefix); // bad input fails here, with exit code 2
    const dashboard = await startDashboard(coord, { ...listen, prefix }).catch((err: unknown) => {
      throw new CliError((err as Error).message, EXIT.failure, { cause: err });
    });
    try {
      inv.io.out(dashboard.url);
      inv.io.err(
        isLoopback(dashboard.host)
          ? `etcd-coord ui: serving ${dashboard.url} (this machine only, read only); Ctrl-C stops it`
          : `etcd-coord ui: serving ${dashboard.url} to other hosts too, without authentication (read only); Ctrl-C stops it`,
      );
      const { signal } = inv.interrupts;
      if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    } finally {
      await dashboard.close();
    }
    return EXIT.ok;
  },
};

/**
 * The coordinator's diagnostic counters (the shared watch stream's `eventsReceived`, the
 * keepalive stream's `sent` and `streamsOpened`). They are private fields of the
 * Coordinator; a benchmark may read them, the library's users should not.
 */

import type { Coordinator } from '../../src/index.js';
import type { KeepAliveStream } from '../../src/lease/keepalive.js';
import type { WatchHub } from '../../src/watch.js';

interface Inside {
  readonly watchHub: WatchHub;
  readonly keepAlive: KeepAliveStream;
}

/** The coordinator's shared watch stream. */
export const watchHubOf = (coord: Coordinator): WatchHub => (coord as unknown as Inside).watchHub;

/** The coordinator's shared keepalive stream. */
export const keepAliveOf = (coord: Coordinator): KeepAliveStream => (coord as unknown as Inside).keepAlive;

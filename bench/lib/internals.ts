/**
 * The coordinator's internals a benchmark looks at: the shared watch stream (and its
 * `eventsReceived`), the keepalive stream (`sent`, `streamsOpened`), the resilience
 * policies. They are private fields of the Coordinator; a benchmark may use them to
 * take a cost apart, the library's users should not.
 */

import type { Coordinator } from '../../src/index.js';
import type { KeepAliveStream } from '../../src/lease/keepalive.js';
import type { Resilience } from '../../src/resilience.js';
import type { WatchHub } from '../../src/watch.js';

interface Inside {
  readonly watchHub: WatchHub;
  readonly keepAlive: KeepAliveStream;
  readonly resilience: Resilience;
}

/** The coordinator's shared watch stream. */
export const watchHubOf = (coord: Coordinator): WatchHub => (coord as unknown as Inside).watchHub;

/** The coordinator's resilience policies (every etcd call of the library goes through them). */
export const resilienceOf = (coord: Coordinator): Resilience => (coord as unknown as Inside).resilience;

/** The coordinator's shared keepalive stream. */
export const keepAliveOf = (coord: Coordinator): KeepAliveStream => (coord as unknown as Inside).keepAlive;

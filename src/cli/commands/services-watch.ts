/**
 * `etcd-coord services watch SERVICE`: the instances of a service and every change.
 * @module
 */
import type { ServiceChange } from '../../index.js';
import { validateSegment } from '../../keys.js';
import { type Command, type Invocation, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatInstance, toJson } from '../format.js';

function printChange(inv: Invocation, change: ServiceChange): void {
  inv.io.out(inv.values.json ? toJson(change) : `${change.type} ${formatInstance(change.instance)}`);
}

/** `services watch`: see the help text. */
export const servicesWatchCommand: Command = {
  name: 'services watch',
  summary: 'print the instances of SERVICE, then every change',
  synopsis: 'SERVICE [--json]',
  positionals: ['SERVICE'],
  options: JSON_OPTION,
  help: `Prints an 'up' line for every instance of SERVICE registered now, then a line for
every change: 'up' (a new instance), 'down' (it is gone), 'update' (its value
changed). Each line is 'TYPE ID ADDRESS:PORT STATUS WEIGHT METADATA'. Runs until
interrupted (exit 0); survives etcd reconnects.

Options:
  --json    one JSON object per line: {"type", "instance"}`,
  async run(inv) {
    const service = validateSegment(inv.positionals[0], 'service');
    const coord = await inv.connect();
    const signal = AbortSignal.any([inv.interrupts.signal, inv.io.stdoutClosed]);
    const cache = await coord.registry.discover(service, { signal });
    try {
      const changes = cache.changes({ signal });
      for (const instance of cache.instances()) printChange(inv, { type: 'up', instance });
      for await (const change of changes) printChange(inv, change);
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      cache.close();
    }
    return EXIT.ok;
  },
};

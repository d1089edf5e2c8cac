/**
 * `etcd-coord services list SERVICE` and `etcd-coord services watch SERVICE`.
 * @module
 */
import type { ServiceChange, ServiceInstance } from '../../index.js';
import { validateSegment } from '../../keys.js';
import type { Command, Invocation } from '../command.js';
import { EXIT } from '../exit.js';
import { formatTable, toJson } from '../format.js';

const JSON_OPTION = { json: { type: 'boolean' } } as const;

const metadataText = (i: ServiceInstance) =>
  Object.entries(i.metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '-';

/** One instance as a line of `services watch`: `ID ADDRESS:PORT STATUS WEIGHT METADATA`. */
const instanceText = (i: ServiceInstance) =>
  `${i.id} ${i.address}:${i.port} ${i.status} ${i.weight} ${metadataText(i)}`;

/** `services list`: see the help text. */
export const servicesListCommand: Command = {
  name: 'services list',
  summary: 'print the registered instances of SERVICE',
  synopsis: 'SERVICE [--json]',
  positionals: ['SERVICE'],
  options: JSON_OPTION,
  help: `Prints the instances of SERVICE registered now (one linearizable read), sorted by id.

Options:
  --json    a JSON array of instances (service, id, address, port, metadata,
            weight, status, registeredAt, key, leaseId, revision)`,
  async run(inv) {
    const service = validateSegment(inv.positionals[0], 'service');
    const coord = await inv.connect();
    const instances = await coord.registry.list(service, { signal: inv.interrupts.signal });
    if (inv.values.json) {
      inv.io.out(toJson(instances));
      return EXIT.ok;
    }
    if (instances.length === 0) {
      inv.io.warn(`no instances of ${service}`);
      return EXIT.ok;
    }
    const rows = instances.map((i) => [i.id, i.address, String(i.port), i.status, String(i.weight), metadataText(i)]);
    inv.io.out(formatTable(['ID', 'ADDRESS', 'PORT', 'STATUS', 'WEIGHT', 'METADATA'], rows));
    return EXIT.ok;
  },
};

function printChange(inv: Invocation, change: ServiceChange): void {
  inv.io.out(inv.values.json ? toJson(change) : `${change.type} ${instanceText(change.instance)}`);
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

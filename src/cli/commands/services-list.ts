/**
 * `etcd-coord services list SERVICE`: the registered instances of a service now.
 * @module
 */
import { validateSegment } from '../../keys.js';
import { type Command, JSON_OPTION } from '../command.js';
import { EXIT } from '../exit.js';
import { formatMetadata, formatTable, toJson } from '../format.js';

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
    const rows = instances.map((i) => [i.id, i.address, String(i.port), i.status, String(i.weight), formatMetadata(i)]);
    inv.io.out(formatTable(['ID', 'ADDRESS', 'PORT', 'STATUS', 'WEIGHT', 'METADATA'], rows));
    return EXIT.ok;
  },
};

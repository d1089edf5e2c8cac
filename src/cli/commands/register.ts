/**
 * `etcd-coord register SERVICE --address A --port P`: keeps an instance registered while
 * it runs.
 * @module
 */
import type { RegisterInput, Registration } from '../../index.js';
import { validateRegisterInput } from '../../registry/validate.js';
import { stringOption, ttlOption } from '../args.js';
import type { Command, Invocation } from '../command.js';
import { EXIT, UsageError } from '../exit.js';
import { toJson } from '../format.js';

/** `--metadata k=v` options as an object. */
function metadataOption(inv: Invocation): Record<string, string> {
  const raw = inv.values.metadata;
  const pairs = Array.isArray(raw) ? raw : [];
  const metadata: Record<string, string> = {};
  for (const pair of pairs) {
    const text = String(pair);
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`--metadata must be KEY=VALUE, got ${JSON.stringify(text)}`);
    metadata[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return metadata;
}

function registerInput(inv: Invocation): RegisterInput {
  const address = stringOption(inv.values, 'address');
  const port = stringOption(inv.values, 'port');
  if (address === undefined) throw new UsageError('missing --address');
  if (port === undefined) throw new UsageError('missing --port');
  const weight = stringOption(inv.values, 'weight');
  const input: RegisterInput = {
    service: inv.positionals[0],
    id: stringOption(inv.values, 'id'),
    address,
    port: /^\d+$/.test(port) ? Number(port) : (port as unknown as number),
    metadata: metadataOption(inv),
  };
  if (weight !== undefined) input.weight = Number(weight);
  if (inv.values.draining) input.status = 'draining';
  validateRegisterInput(input);
  return input;
}

async function reportStatus(inv: Invocation, registration: Registration, signal: AbortSignal): Promise<void> {
  for await (const s of registration.status({ signal })) {
    if (s.type === 'lost') inv.io.warn(`registration lost (${s.error.message}); registering again`);
    if (s.type === 're-registered') inv.io.warn(`registered again with lease ${s.leaseId} after ${s.attempts} tries`);
  }
}

/** `register`: see the help text. */
export const registerCommand: Command = {
  name: 'register',
  summary: 'register an instance of SERVICE while running',
  synopsis: 'SERVICE --address A --port P [--id ID] [--metadata K=V ...] [--weight W] [--ttl S] [--json]',
  positionals: ['SERVICE'],
  options: {
    address: { type: 'string' },
    port: { type: 'string' },
    id: { type: 'string' },
    metadata: { type: 'string', multiple: true },
    weight: { type: 'string' },
    draining: { type: 'boolean' },
    ttl: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Registers an instance of SERVICE under <namespace>services/SERVICE/ID on its own lease,
prints its key, and keeps it registered (registering again after a lease loss or an
etcd outage) until SIGINT or SIGTERM, then deregisters it and exits 0.

Options:
  --address A       host name or IP address where the instance is reached (required)
  --port P          TCP port, 1-65535 (required)
  --id ID           instance id (default: a random UUID)
  --metadata K=V    a metadata entry; repeat for more
  --weight W        weight for weighted picking (default 1)
  --draining        register as 'draining' (discovery does not pick it)
  --ttl S           lease TTL in seconds, at least 2 (default 10): how long the
                    instance outlives a crashed etcd-coord
  --json            print the registered instance as JSON instead of its key

Example:
  etcd-coord register api --address 10.0.0.5 --port 8080 --metadata zone=a &`,
  async run(inv) {
    const input = registerInput(inv);
    const ttl = ttlOption(inv.values);
    const coord = await inv.connect();
    const { signal } = inv.interrupts;
    const registration = await coord.registry.register(input, { ttl, signal });
    try {
      inv.io.out(inv.values.json ? toJson(registration.instance) : registration.key);
      await reportStatus(inv, registration, signal).catch(() => undefined);
    } finally {
      await registration.deregister();
    }
    return EXIT.ok;
  },
};

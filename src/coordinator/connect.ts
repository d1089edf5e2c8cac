/**
 * `connect()`: checks the options, builds the client, waits for an endpoint to answer,
 * and hands back a {@link Coordinator}.
 * @module
 */
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { InvalidArgumentError } from '../errors.js';
import { validateNamespace, validateTimeout, validateTtl } from '../keys.js';
import { defaultOwner, validateOwner } from '../lock/owner.js';
import { Resilience } from '../resilience.js';
import { Tracing } from '../telemetry.js';
import { Coordinator } from './coordinator.js';
import { type ConnectOptions, etcd3Options, resolveEndpoints } from './options.js';
import { probe } from './probe.js';

/**
 * Connects to etcd. Rejects with {@link InvalidArgumentError} for bad options (before any
 * network traffic), {@link AuthenticationError} for rejected credentials, and
 * {@link EtcdUnavailableError} naming the endpoints when none answers within `dialTimeoutMs`.
 */
export async function connect(options: ConnectOptions = {}): Promise<Coordinator> {
  const endpoints = resolveEndpoints(options.endpoints);
  const namespace = validateNamespace(options.namespace);
  const ttl = validateTtl(options.ttl ?? 10, 'ttl');
  const dialTimeoutMs = validateTimeout(options.dialTimeoutMs, 'dialTimeoutMs') ?? 5000;
  const owner = validateOwner(options.owner, 'owner') ?? defaultOwner();
  const names = endpoints.map((e) => e.url);
  const tracing = Tracing.load(); // @opentelemetry/api if installed; never rejects
  const resilience = new Resilience(options.policies, names);
  const client = new Etcd3(etcd3Options(endpoints, options, resilience));
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ lib: 'etcd-coord' });
  try {
    await probe(client, dialTimeoutMs, names);
  } catch (err) {
    client.close();
    throw err;
  }
  const coord = new Coordinator(client, { namespace, ttl, logger, resilience, endpoints: names, owner });
  coord.useTracing(await tracing);
  if (options.metrics) {
    try {
      await coord.enableMetrics(options.metrics);
    } catch (err) {
      await coord.close();
      throw new InvalidArgumentError((err as Error).message, { cause: err });
    }
  }
  return coord;
}

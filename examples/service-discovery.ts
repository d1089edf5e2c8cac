/**
 * Service discovery end to end. Two instances of a `greeter` service run as child
 * processes, each serving HTTP on 127.0.0.1 and registered with a 3 s TTL. A client
 * discovers them, calls them round-robin over HTTP, then one instance is SIGKILLed: the
 * client marks it down on the first failed call (`noteError`) and keeps being served by
 * the other; the registry drops the dead instance when its lease expires.
 *
 *   npx tsx examples/service-discovery.ts
 *
 * Uses ETCD_ENDPOINTS when set, else starts a throwaway local etcd (and stops it).
 * Exits 0 when every call was answered.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect, type ServiceCache } from '../src/index.js';
import { startEtcd, stopAll } from '../test/harness/etcd.js';

const SERVICE = 'greeter';
const say = (msg: string) => process.stdout.write(`${msg}\n`);

/** Child mode: serve HTTP, register, and stay until killed or told to leave. */
async function server(name: string): Promise<void> {
  const http = createServer((_req, res) => res.end(`hello from ${name}`));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  const coord = await connect({ namespace: process.env.EXAMPLE_NAMESPACE });
  const reg = await coord.registry.register({ service: SERVICE, id: name, address: '127.0.0.1', port }, { ttl: 3 });
  process.send?.({ type: 'ready', port });
  process.on('message', async () => {
    await reg.deregister(); // graceful: gone from discovery at once
    await coord.close();
    http.close();
    process.exit(0);
  });
}

/** Calls the service once: picks an instance round-robin; on failure marks it down and tries another. */
async function call(cache: ServiceCache): Promise<string> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const instance = cache.pick('round-robin');
    if (!instance) throw new Error('no instance available');
    try {
      const res = await fetch(`http://${instance.address}:${instance.port}/`, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      cache.noteSuccess(instance);
      return text;
    } catch (err) {
      say(`  call to ${instance.id} failed (${(err as Error).message}); marking it down`);
      cache.noteError(instance);
    }
  }
  throw new Error('three instances failed in a row');
}

/** Resolves once `done()` holds, checked now and after every change of the cache. */
async function until(cache: ServiceCache, done: () => boolean): Promise<void> {
  if (done()) return;
  for await (const _change of cache.changes()) if (done()) return;
}

function startServer(name: string): ChildProcess {
  return fork(fileURLToPath(import.meta.url), ['server', name], { execArgv: process.execArgv, stdio: 'inherit' });
}

async function client(): Promise<void> {
  let started = false;
  if (!process.env.ETCD_ENDPOINTS) {
    const node = await startEtcd();
    process.env.ETCD_ENDPOINTS = node.endpoint;
    started = true;
    say(`started a local etcd at ${node.endpoint}`);
  }
  process.env.EXAMPLE_NAMESPACE ??= `service-discovery-${process.pid}/`;
  const servers = { a: startServer('greeter-a'), b: startServer('greeter-b') };
  try {
    await Promise.all(Object.values(servers).map((s) => once(s, 'message')));
    await using coord = await connect({ namespace: process.env.EXAMPLE_NAMESPACE });
    const cache = await coord.registry.discover(SERVICE, { downPolicy: { halfOpenAfterMs: 5000 } });
    say(
      `discovered: ${cache
        .instances()
        .map((i) => `${i.id} at ${i.address}:${i.port}`)
        .join(', ')}`,
    );
    if (cache.instances().length !== 2) throw new Error('expected two instances');

    const answers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const text = await call(cache);
      answers.add(text);
      say(`call ${i + 1}: ${text}`);
    }
    if (answers.size !== 2) throw new Error('round-robin should have reached both instances');

    say('killing greeter-a (SIGKILL)');
    const killedAt = performance.now();
    servers.a.kill('SIGKILL');
    await once(servers.a, 'exit');
    for (let i = 0; i < 4; i++) {
      const text = await call(cache);
      if (text !== 'hello from greeter-b') throw new Error(`unexpected answer: ${text}`);
      say(`call ${i + 5}: ${text}`);
    }
    await until(cache, () => !cache.instances().some((i) => i.id === 'greeter-a'));
    say(`greeter-a left the registry ${(performance.now() - killedAt).toFixed(0)} ms after the kill (lease TTL 3 s)`);

    servers.b.send({ type: 'leave' });
    await once(servers.b, 'exit');
    await until(cache, () => cache.instances().length === 0);
    say('greeter-b deregistered: no instance left');
    cache.close();
  } finally {
    for (const s of Object.values(servers)) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    if (started) await stopAll();
  }
}

const main = process.argv[2] === 'server' ? server(process.argv[3]) : client();
main.catch(async (err) => {
  process.stderr.write(`service-discovery failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await stopAll();
  process.exit(1);
});

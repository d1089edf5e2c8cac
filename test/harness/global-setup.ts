/**
 * vitest globalSetup: provides `etcdEndpoints` to every test file.
 * Order: ETCD_ENDPOINTS; an etcd binary (ETCD_BIN or PATH) started on free loopback
 * ports; Docker with testcontainers; otherwise fail saying how to install etcd.
 */
import type { TestProject } from 'vitest/node';
import { findEtcdBinary, INSTALL_HINT, startEtcd, stopAll } from './etcd.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoints: string[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv = process.env.ETCD_ENDPOINTS?.trim();
  if (fromEnv) {
    project.provide(
      'etcdEndpoints',
      fromEnv.split(',').map((s) => s.trim()),
    );
    return async () => {};
  }
  if (findEtcdBinary()) {
    const node = await startEtcd();
    project.provide('etcdEndpoints', [node.endpoint]);
    return () => stopAll();
  }
  const container = await startContainer();
  if (container) {
    project.provide('etcdEndpoints', [container.endpoint]);
    return container.stop;
  }
  throw new Error(INSTALL_HINT);
}

async function startContainer(): Promise<{ endpoint: string; stop: () => Promise<void> } | undefined> {
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
    await tc.getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker here
  }
  const c = await new tc.GenericContainer('quay.io/coreos/etcd:v3.4.23')
    .withCommand([
      '/usr/local/bin/etcd',
      '--listen-client-urls=http://0.0.0.0:2379',
      '--advertise-client-urls=http://0.0.0.0:2379',
    ])
    .withExposedPorts(2379)
    .withWaitStrategy(tc.Wait.forHttp('/health', 2379))
    .start();
  return {
    endpoint: `${c.getHost()}:${c.getMappedPort(2379)}`,
    stop: async () => {
      await c.stop();
    },
  };
}

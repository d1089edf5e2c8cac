/**
 * The three election implementations behind one small interface, two candidates each
 * (sides 0 and 1, each with its own client and lease, as two processes would have):
 * etcd-coord's Election, the `etcd3` package's Election, and etcd's server-side Election
 * service through the gateway.
 */

import { type Coordinator, connect } from 'etcd-coord';
import type { Etcd3 } from 'etcd3';
import { Gateway } from './gateway.js';
import { etcd3Client } from './raw.js';

/** A candidate that has been elected. */
export interface Elected {
  proclaim(value: string): Promise<void>;
  resign(): Promise<void>;
}

/** One election implementation. */
export interface ElectionPeer {
  readonly name: string;
  /** Campaigns as `side` (0 or 1); resolves once elected. */
  campaign(side: 0 | 1, value: string): Promise<Elected>;
  /** Reports every leader value the implementation's observer sees; returns a stop function. */
  observe(onValue: (value: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** etcd-coord: two coordinators, each campaigning on its shared session. */
export async function coordElection(endpoints: string[], ns: string, name: string): Promise<ElectionPeer> {
  const coords: Coordinator[] = await Promise.all([0, 1].map(() => connect({ endpoints, namespace: ns })));
  await Promise.all(coords.map((c) => c.session()));
  return {
    name: 'etcd-coord',
    campaign: (side, value) => coords[side].election(name).campaign(value),
    async observe(onValue) {
      const ac = new AbortController();
      const loop = (async () => {
        try {
          for await (const leader of coords[1].election(name).observe({ signal: ac.signal })) {
            if (leader) onValue(leader.value);
          }
        } catch (err) {
          if (!ac.signal.aborted) throw err;
        }
      })();
      return async () => {
        ac.abort();
        await loop;
      };
    },
    close: async () => {
      await Promise.all(coords.map((c) => c.close()));
    },
  };
}

/** The `etcd3` package: two clients; each campaign grants its own lease (its API). */
export function etcd3Election(endpoints: string[], ns: string, name: string, ttl = 10): ElectionPeer {
  const clients: Etcd3[] = [0, 1].map(() => etcd3Client(endpoints));
  return {
    name: 'etcd3',
    async campaign(side, value) {
      const c = clients[side].namespace(ns).election(name, ttl).campaign(value);
      await c.wait();
      return { proclaim: (v) => c.proclaim(v), resign: () => c.resign() };
    },
    async observe(onValue) {
      const observer = await clients[1].namespace(ns).election(name, ttl).observe();
      // observe() resolves after the first 'change' (the current leader) was emitted.
      const current = observer.leader();
      if (current !== undefined) onValue(current);
      observer.on('change', (v) => v !== undefined && onValue(v));
      return () => observer.cancel();
    },
    close: async () => {
      for (const c of clients) c.close();
    },
  };
}

/** etcd's server-side Election service: one lease per side, granted once. */
export async function serverElection(gatewayPort: number, ns: string, name: string): Promise<ElectionPeer> {
  const gw = new Gateway(gatewayPort);
  const leases = await Promise.all([gw.grant(600), gw.grant(600)]);
  const full = `${ns}${name}`;
  return {
    name: 'server-side',
    async campaign(side, value) {
      const leader = await gw.campaign(full, leases[side], value);
      return { proclaim: (v) => gw.proclaim(leader, v), resign: () => gw.resign(leader) };
    },
    async observe(onValue) {
      const stop = gw.observe(full, onValue);
      return async () => stop();
    },
    close: async () => {
      await Promise.allSettled(leases.map((l) => gw.revoke(l)));
      gw.close();
    },
  };
}

/** Every scenario, in the order they run. */
import type { BenchEnv } from '../lib/env.js';
import type { ScenarioResult } from '../lib/report.js';
import { lockContended } from './contended.js';
import { discovery } from './discovery.js';
import { election } from './election.js';
import { floor } from './floor.js';
import { lockHerd } from './herd.js';
import { inspect } from './inspect.js';
import { lockUncontended } from './lock.js';
import { partition } from './partition.js';
import { sessions } from './sessions.js';
import { soak, soakSeconds } from './soak.js';
import { telemetry } from './telemetry.js';

/** A benchmark scenario. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(env: BenchEnv): Promise<ScenarioResult>;
  /** Runs only when BENCH_ONLY names it (long scenarios). */
  readonly optIn?: boolean;
  /** Uses only the single node: no 3-node cluster is started for it. */
  readonly singleNodeOnly?: boolean;
  /** Its own time limit in seconds (the runner takes the larger of this and BENCH_SCENARIO_LIMIT_S). */
  limitS?(quick: boolean): number;
}

export const scenarios: Scenario[] = [
  { id: 'floor', title: '1. Floor: raw etcd3 requests', run: floor },
  { id: 'lock', title: '2. Uncontended lock acquire + release', run: lockUncontended },
  { id: 'contended', title: '3. Contended lock', run: lockContended },
  { id: 'herd', title: '4. Herd: many waiters on one lock', run: lockHerd },
  { id: 'election', title: '5. Election', run: election },
  { id: 'discovery', title: '6. Discovery', run: discovery },
  { id: 'sessions', title: '7. Sessions: 1,000 in one process', run: sessions },
  {
    id: 'soak',
    title: '8. Soak: a long mixed load on one coordinator',
    run: soak,
    optIn: true,
    singleNodeOnly: true,
    limitS: (quick) => soakSeconds(quick) + 300,
  },
  { id: 'telemetry', title: '9. Telemetry cost', run: telemetry, singleNodeOnly: true },
  { id: 'inspect', title: '10. Inspect: 1,000 queues × 3 contenders', run: inspect },
  { id: 'partition', title: '11. Partitions: rebalancing', run: partition, singleNodeOnly: true },
];

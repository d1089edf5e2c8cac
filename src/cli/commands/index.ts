/**
 * Every subcommand of `etcd-coord`, in the order `etcd-coord --help` lists them.
 * @module
 */
import type { Command } from '../command.js';
import { electCommand } from './elect.js';
import { inspectCommand } from './inspect.js';
import { leaderCommand } from './leader.js';
import { lockCommand } from './lock.js';
import { locksCommand } from './locks.js';
import { observeCommand } from './observe.js';
import { partitionsCommand } from './partitions.js';
import { registerCommand } from './register.js';
import { servicesListCommand } from './services-list.js';
import { servicesWatchCommand } from './services-watch.js';
import { snapshotSaveCommand } from './snapshot-save.js';
import { snapshotStatusCommand } from './snapshot-status.js';
import { statusCommand } from './status.js';
import { uiCommand } from './ui.js';

/** The subcommands. */
export const COMMANDS: readonly Command[] = [
  lockCommand,
  electCommand,
  leaderCommand,
  observeCommand,
  locksCommand,
  inspectCommand,
  partitionsCommand,
  servicesListCommand,
  servicesWatchCommand,
  registerCommand,
  statusCommand,
  snapshotSaveCommand,
  snapshotStatusCommand,
  uiCommand,
];

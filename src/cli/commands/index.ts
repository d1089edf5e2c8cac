/**
 * Every subcommand of `etcd-coord`, in the order `etcd-coord --help` lists them.
 * @module
 */
import type { Command } from '../command.js';
import { electCommand } from './elect.js';
import { leaderCommand, observeCommand } from './leader.js';
import { lockCommand } from './lock.js';
import { registerCommand } from './register.js';
import { servicesListCommand, servicesWatchCommand } from './services.js';
import { snapshotSaveCommand, snapshotStatusCommand } from './snapshot.js';
import { statusCommand } from './status.js';

/** The subcommands. */
export const COMMANDS: readonly Command[] = [
  lockCommand,
  electCommand,
  leaderCommand,
  observeCommand,
  servicesListCommand,
  servicesWatchCommand,
  registerCommand,
  statusCommand,
  snapshotSaveCommand,
  snapshotStatusCommand,
];

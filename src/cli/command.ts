/**
 * What a subcommand of `etcd-coord` is, and what it gets when it runs.
 * @module
 */
import type { ParseArgsConfig } from 'node:util';
import type { Coordinator } from '../index.js';
import type { Interrupts } from './interrupts.js';
import type { Io } from './io.js';

/** parseArgs option definitions. */
export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** The `--json` flag of the commands that print JSON on request. */
export const JSON_OPTION: OptionSpecs = { json: { type: 'boolean' } };

/** Parsed option values (`--flag` booleans, `--opt V` strings, repeatable options as arrays). */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** One subcommand, e.g. `lock` or `services list`. */
export interface Command {
  /** The words that select it, e.g. 'services list'. */
  readonly name: string;
  /** One line for `etcd-coord --help`. */
  readonly summary: string;
  /** The synopsis, e.g. 'NAME [--try] [-- CMD [ARG...]]'. */
  readonly synopsis: string;
  /** Description and option lines of `etcd-coord <name> --help`. */
  readonly help: string;
  /** Its own options (the common ones are added). */
  readonly options: OptionSpecs;
  /** Names of the positional arguments it takes, exactly; optional ones last, in brackets (`'[PREFIX]'`). */
  readonly positionals: readonly string[];
  /** True when it takes `-- CMD [ARG...]` (optional). */
  readonly runsCommand?: boolean;
  /** Runs it; resolves the exit code. */
  run(inv: Invocation): Promise<number>;
}

/** What a running subcommand gets. */
export interface Invocation {
  /** Option values (common and own). */
  readonly values: OptionValues;
  /** Positional arguments, as many as the command's `positionals` (optional ones may be missing). */
  readonly positionals: readonly string[];
  /** The words after `--` (CMD and its arguments); empty when there is none. */
  readonly command: readonly string[];
  /** Output to the terminal or pipes. */
  readonly io: Io;
  /** SIGINT, SIGTERM and SIGHUP of this process. */
  readonly interrupts: Interrupts;
  /** Connects with the common flags (once; the coordinator is closed when the command ends). */
  connect(): Promise<Coordinator>;
}

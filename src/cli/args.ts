/**
 * Flags every subcommand takes (connection, TLS, auth, --debug, --help), and the parsing
 * of a subcommand's arguments with `node:util` parseArgs.
 * @module
 */
import { parseArgs } from 'node:util';
import type { ConnectOptions } from '../index.js';
import type { Command, OptionSpecs, OptionValues } from './command.js';
import { UsageError } from './exit.js';

/** The flags of every subcommand. */
export const COMMON_OPTIONS: OptionSpecs = {
  endpoints: { type: 'string' },
  namespace: { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  'dial-timeout': { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** Help lines of {@link COMMON_OPTIONS}. */
export const COMMON_HELP = `Common options:
  --endpoints E1,E2    etcd endpoints, host:port or http(s)://host:port
                       (default: $ETCD_ENDPOINTS, else 127.0.0.1:2379)
  --namespace NS       key prefix, '' or ending with '/' (default '')
  --cacert FILE        CA certificate of etcd's server certificate (TLS)
  --cert FILE          client certificate (TLS client auth), with --key
  --key FILE           client private key
  --user NAME[:PASS]   etcd user; the password after ':' or in --password
  --password PASS      etcd password (default: $ETCD_COORD_PASSWORD)
  --dial-timeout S     how long to wait for an endpoint to answer (default 5)
  --debug              log to stderr and print stack traces
  -h, --help           this help`;

/** A subcommand's parsed arguments. */
export interface Parsed {
  readonly values: OptionValues;
  readonly positionals: string[];
  readonly command: string[];
}

/**
 * Parses `args` (after the subcommand's words) for `cmd`.
 * @throws UsageError for unknown flags, missing values, or the wrong number of arguments
 */
export function parseCommandArgs(cmd: Command, args: readonly string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      options: { ...COMMON_OPTIONS, ...cmd.options },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const terminator = parsed.tokens?.find((t) => t.kind === 'option-terminator');
  const command = terminator ? args.slice(terminator.index + 1) : [];
  const positionals = parsed.positionals.slice(0, parsed.positionals.length - command.length);
  const values = parsed.values as OptionValues;
  if (values.help) return { values, positionals, command };
  if (command.length > 0 && !cmd.runsCommand) throw new UsageError(`${cmd.name} does not run a command after '--'`);
  if (terminator && command.length === 0) throw new UsageError("missing CMD after '--'");
  const required = cmd.positionals.filter((p) => !p.startsWith('[')).length;
  if (positionals.length < required) {
    throw new UsageError(`missing ${cmd.positionals.slice(positionals.length, required).join(' ')}`);
  }
  if (positionals.length > cmd.positionals.length) {
    const hint = cmd.runsCommand ? " (put the command after '--')" : '';
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[cmd.positionals.length])}${hint}`);
  }
  return { values, positionals, command };
}

/** A string option's value, or undefined. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * A `--name S` option in seconds: a finite number >= `min`, or undefined when absent.
 * @throws UsageError
 */
export function secondsOption(values: OptionValues, name: string, min = 0): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number of seconds >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * A whole-seconds TTL option (`--ttl`), or undefined.
 * @throws UsageError
 */
export function ttlOption(values: OptionValues): number | undefined {
  const ttl = secondsOption(values, 'ttl', 2);
  if (ttl !== undefined && !Number.isInteger(ttl)) {
    throw new UsageError(`--ttl must be a whole number of seconds >= 2, got ${ttl}`);
  }
  return ttl;
}

/**
 * The connect() options of the common flags.
 * @throws UsageError for inconsistent flags
 */
export function connectOptions(values: OptionValues): ConnectOptions {
  const options: ConnectOptions = {};
  const endpoints = stringOption(values, 'endpoints');
  if (endpoints !== undefined) {
    options.endpoints = endpoints
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (options.endpoints.length === 0) throw new UsageError('--endpoints needs at least one host:port');
  }
  options.namespace = stringOption(values, 'namespace');
  const [ca, cert, key] = ['cacert', 'cert', 'key'].map((n) => stringOption(values, n));
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--cert and --key go together');
  if (ca || cert) options.tls = { ca, cert, key };
  const user = stringOption(values, 'user');
  if (user !== undefined) {
    const colon = user.indexOf(':');
    const username = colon >= 0 ? user.slice(0, colon) : user;
    const password =
      colon >= 0 ? user.slice(colon + 1) : (stringOption(values, 'password') ?? process.env.ETCD_COORD_PASSWORD);
    if (!username) throw new UsageError('--user needs a user name');
    if (password === undefined) throw new UsageError('--user NAME needs a password: --user NAME:PASS or --password');
    options.auth = { username, password };
  } else if (stringOption(values, 'password') !== undefined) {
    throw new UsageError('--password needs --user');
  }
  const dial = secondsOption(values, 'dial-timeout');
  if (dial !== undefined) options.dialTimeoutMs = dial * 1000;
  return options;
}

/**
 * The `etcd-coord` command: picks the subcommand, parses its flags, connects, runs it,
 * and turns the outcome into one line on stderr and an exit code.
 * @module
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { type Coordinator, connect } from '../index.js';
import { COMMON_HELP, connectOptions, parseCommandArgs } from './args.js';
import type { Command, Invocation } from './command.js';
import { COMMANDS } from './commands/index.js';
import { EXIT, EXIT_CODES_HELP, exitCodeOf, signalExitCode, UsageError } from './exit.js';
import { Interrupts } from './interrupts.js';
import { type Io, streamIo } from './io.js';

function synopsis(cmd: Command): string {
  return `etcd-coord ${cmd.name} ${cmd.synopsis}`.trimEnd();
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.positionals.join(' ')}`.length));
  const lines = COMMANDS.map((c) => `  ${`${c.name} ${c.positionals.join(' ')}`.padEnd(width)}  ${c.summary}`);
  return `Usage: etcd-coord <command> [options]

Distributed coordination on etcd v3 from the shell: locks, leader election,
who holds and who waits, service registration and discovery, cluster status
and snapshots.

Commands:
${lines.join('\n')}

Run 'etcd-coord <command> --help' for its options.

${COMMON_HELP}

${EXIT_CODES_HELP}`;
}

function commandHelp(cmd: Command): string {
  return `Usage: ${synopsis(cmd)}\n\n${cmd.help}\n\n${COMMON_HELP}\n\n${EXIT_CODES_HELP}`;
}

/** The command selected by the first words of `argv`, and the remaining arguments. */
function findCommand(argv: readonly string[]): { cmd: Command; rest: readonly string[] } | undefined {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const cmd = COMMANDS.find((c) => c.name === name);
    if (cmd) return { cmd, rest: argv.slice(words) };
  }
  return undefined;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usageFailure(io: Io, message: string, cmd?: Command): number {
  io.warn(message);
  if (cmd) io.err(`Usage: ${synopsis(cmd)}\nRun 'etcd-coord ${cmd.name} --help' for details.`);
  else {
    const names = [...new Set(COMMANDS.map((c) => c.name))].join(', ');
    io.err(`Usage: etcd-coord <command> [options]\nCommands: ${names}\nRun 'etcd-coord --help' for details.`);
  }
  return EXIT.usage;
}

/** Runs the command line `argv` (without `node` and the script); resolves the exit code. */
export async function runCli(argv: readonly string[], io: Io = streamIo()): Promise<number> {
  const first = argv[0];
  if (first === undefined) return usageFailure(io, 'missing command');
  if (first === '--help' || first === '-h' || first === 'help') {
    io.out(topHelp());
    return EXIT.ok;
  }
  if (first === '--version' || first === '-V') {
    io.out(version());
    return EXIT.ok;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name);
    if (group.length && (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h')) {
      const code = argv[1] === undefined ? EXIT.usage : EXIT.ok;
      (code ? io.err.bind(io) : io.out.bind(io))(`Usage: etcd-coord ${group.join(' ...\n       etcd-coord ')} ...`);
      return code;
    }
    return usageFailure(io, `unknown command ${JSON.stringify(group.length ? `${first} ${argv[1]}` : first)}`);
  }
  const { cmd, rest } = found;
  let parsed: ReturnType<typeof parseCommandArgs>;
  try {
    parsed = parseCommandArgs(cmd, rest);
  } catch (err) {
    return usageFailure(io, (err as Error).message, cmd);
  }
  if (parsed.values.help) {
    io.out(commandHelp(cmd));
    return EXIT.ok;
  }
  return execute(cmd, parsed, io);
}

async function execute(cmd: Command, parsed: ReturnType<typeof parseCommandArgs>, io: Io): Promise<number> {
  const debug = Boolean(parsed.values.debug);
  const interrupts = new Interrupts((signal) => process.exit(signalExitCode(signal)));
  let coordinator: Promise<Coordinator> | undefined;
  const inv: Invocation = {
    ...parsed,
    io,
    interrupts,
    connect: () => {
      if (!coordinator) {
        io.status('connecting to etcd...');
        coordinator = connectOrInterrupt(parsed, interrupts.signal, debug);
        coordinator.then(io.clearStatus, io.clearStatus);
      }
      return coordinator;
    },
  };
  try {
    return await cmd.run(inv);
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, err.message, cmd);
    io.warn(err instanceof Error ? err.message : String(err));
    if (debug) io.err(describeError(err));
    return exitCodeOf(err);
  } finally {
    io.clearStatus();
    await coordinator?.then((c) => c.close()).catch(() => undefined);
    interrupts.dispose();
  }
}

async function connectOrInterrupt(
  parsed: ReturnType<typeof parseCommandArgs>,
  signal: AbortSignal,
  debug: boolean,
): Promise<Coordinator> {
  const options = connectOptions(parsed.values);
  if (debug) options.logger = pino({ level: 'debug' }, pino.destination(2));
  signal.throwIfAborted();
  const connecting = connect(options);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([connecting, aborted]);
  } catch (err) {
    connecting.then((c) => c.close()).catch(() => undefined);
    throw err;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** The stack and the cause chain, for --debug. */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}

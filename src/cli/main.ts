#!/usr/bin/env node
/**
 * Entry point of the `etcd-coord` command (package.json `bin`).
 * @module
 */
import { runCli } from './cli.js';
import { streamIo } from './io.js';

// Deprecation warnings of dependencies (e.g. gRPC's TLS server name for IP endpoints) are
// noise for the user of a command; --debug shows them.
if (!process.argv.includes('--debug')) process.noDeprecation = true;

const io = streamIo();
const code = await runCli(process.argv.slice(2), io);
await io.flush();
process.exitCode = code;
// Everything is closed by now; do not let a stray timer of a dependency hold the exit.
setTimeout(() => process.exit(code), 2000).unref();

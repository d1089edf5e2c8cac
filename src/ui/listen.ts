/**
 * The dashboard's listen address: `--listen HOST:PORT`, loopback unless it says otherwise.
 * @module
 */
import { isIP } from 'node:net';

/** Where the dashboard listens. */
export interface ListenAddress {
  /** A host name or IP address (IPv6 without brackets). */
  readonly host: string;
  /** A TCP port; 0 picks a free one. */
  readonly port: number;
}

/** The default: loopback only, port 7070. */
export const DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 7070 };

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT`, `:PORT` or `PORT`. A missing host means loopback
 * (127.0.0.1): reaching other hosts takes an explicit address such as `0.0.0.0:7070`.
 * @throws Error with a message that says what was expected
 */
export function parseListen(value: string | undefined): ListenAddress {
  if (value === undefined) return DEFAULT_LISTEN;
  const bad = () =>
    new Error(`--listen must be HOST:PORT, [IPv6]:PORT or PORT (0-65535), got ${JSON.stringify(value)}`);
  let host: string;
  let portText: string;
  const v = value.trim();
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(v);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
    if (isIP(host) !== 6) throw bad();
  } else if (/^\d+$/.test(v)) {
    host = '';
    portText = v;
  } else {
    const colon = v.lastIndexOf(':');
    if (colon < 0 || v.indexOf(':') !== colon) throw bad();
    host = v.slice(0, colon);
    portText = v.slice(colon + 1);
    if (!/^\d+$/.test(portText) || /\s/.test(host)) throw bad();
  }
  const port = Number(portText);
  if (!Number.isInteger(port) || port > 65535) throw bad();
  return { host: host || DEFAULT_LISTEN.host, port };
}

/** Whether `host` names only this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/** `http://HOST:PORT/` for an address (IPv6 in brackets). */
export function urlOf(host: string, port: number): string {
  return `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}/`;
}

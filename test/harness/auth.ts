/** etcd auth for tests: a root user, and one user whose role may read and write one prefix. */
import { execFileSync } from 'node:child_process';

export interface AuthSetup {
  /** The limited user: `name:password`. */
  readonly user: string;
  readonly role: string;
  /** The key prefix the role may read and write. */
  readonly prefix: string;
}

/** Adds root (password 'rootpw') and the limited user with etcdctl, then enables auth. */
export function enableAuth(endpoint: string, setup: AuthSetup): void {
  const ctl = (...args: string[]) =>
    execFileSync('etcdctl', ['--endpoints', endpoint, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  ctl('user', 'add', 'root:rootpw');
  ctl('user', 'grant-role', 'root', 'root');
  ctl('role', 'add', setup.role);
  ctl('role', 'grant-permission', setup.role, '--prefix=true', 'readwrite', setup.prefix);
  ctl('user', 'add', setup.user);
  ctl('user', 'grant-role', setup.user.split(':')[0], setup.role);
  ctl('auth', 'enable');
}

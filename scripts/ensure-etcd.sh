#!/usr/bin/env bash
# Makes sure an etcd server binary (and etcdctl) is available for tests and the demo.
# - ETCD_ENDPOINTS set: nothing to do (an existing cluster is used).
# - etcd on PATH or at ETCD_BIN: nothing to do.
# - Debian/Ubuntu as root: apt-get install etcd-server etcd-client.
# - otherwise: print how to install it and exit 1.
set -euo pipefail
if [ -n "${ETCD_ENDPOINTS:-}" ]; then exit 0; fi
if [ -n "${ETCD_BIN:-}" ] && [ -x "${ETCD_BIN}" ]; then exit 0; fi
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1; then exit 0; fi
if [ -f /etc/debian_version ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-etcd: installing etcd-server and etcd-client with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq etcd-server etcd-client >/dev/null
  # Debian's package may try to start a system etcd on 2379; tests and the demo use their own ports.
  command -v etcd >/dev/null 2>&1 && exit 0
fi
cat >&2 <<'TXT'
ensure-etcd: no etcd found. Install one of:
  Debian/Ubuntu:  sudo apt-get install etcd-server etcd-client
  macOS:          brew install etcd
  other:          https://etcd.io/docs/latest/install/ (then put etcd on PATH or set ETCD_BIN)
or point ETCD_ENDPOINTS at a running cluster (e.g. ETCD_ENDPOINTS=127.0.0.1:2379).
TXT
exit 1

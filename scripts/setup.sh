#!/usr/bin/env bash
# One-time setup, safe to run again: etcd (see ensure-etcd.sh) and node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-etcd.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

#!/usr/bin/env bash
# Sets up (etcd, node_modules) and runs the demo. When ETCD_ENDPOINTS is unset it starts a
# throwaway local etcd on free ports and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx examples/demo.ts "$@"

#!/usr/bin/env bash
# Makes sure the system tools the test suite drives are installed (Debian packages):
# - chromium: the dashboard's browser test (driven by playwright-core);
# - prometheus: promtool checks the alert rules in monitoring/;
# - iproute2: ip netns and tc for the packet-loss fault kit.
# On Debian as root they are installed with apt-get; elsewhere it says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v tc >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ -f /etc/debian_version ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-tools: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "ensure-test-tools: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
exit 1

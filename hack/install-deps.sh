#!/usr/bin/env bash
# Installs the system packages and npm dependencies the tests need, idempotently.
# Safe to run on a fresh Debian bookworm machine (as root) and instant when all is present.
# `hack/install-deps.sh demo` installs only what `make demo` needs (no browser, no npm test suites).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"

need=()
command -v redis-server >/dev/null || need+=(redis-server)
if [[ "$mode" != demo ]]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v haproxy >/dev/null || need+=(haproxy)
  # make test-monitoring: a real Prometheus and promtool.
  command -v promtool >/dev/null || need+=(prometheus)
fi
# The local cluster of make demo / test-e2e: certificates, "local" routes on lo, per-pod mount namespaces.
command -v openssl >/dev/null || need+=(openssl)
command -v ip >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "install-deps: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[[ "$mode" == demo ]] && exit 0

# npm packages of every Node test suite (test/*/package-lock.json): official client, reference servers, browsers.
for lock in test/*/package-lock.json; do
  [[ -f "$lock" ]] || continue
  dir="$(dirname "$lock")"
  stamp="$dir/node_modules/.socketfleet-lock"
  if [[ ! -f "$stamp" ]] || ! cmp -s "$lock" "$stamp"; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$lock" "$stamp"
  fi
done

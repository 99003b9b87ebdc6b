#!/usr/bin/env bash
# Process-level tests of socketfleet-runtime: builds the binary and drives it
# with the official socket.io-client (Node) and headless Chromium.
# Needs `npm ci` here (hack/install-deps.sh does it) and /usr/bin/chromium.
# Extra arguments go to `go test` (e.g. -run Drain -v).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
if [[ ! -d "$here/node_modules/socket.io-client" || ! -d "$here/node_modules/playwright-core" || ! -d "$here/node_modules/@socket.io/admin-ui" ]]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec go test -count=1 "$@" ./test/runtime/

#!/usr/bin/env bash
# Fleet tests (test/fleet): socketfleet-runtime processes on a real redis-server behind HAProxy, with 2,000
# official socket.io-client clients. Builds the runtime, installs the npm modules if needed, runs node:test.
# FLEET_RESULTS=<file> writes the measured numbers as a Markdown section; FLEET_CLIENTS overrides the count.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
CGO_ENABLED=0 go build -o bin/socketfleet-runtime ./cmd/runtime
if [[ ! -d "$here/node_modules/socket.io-client" ]]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cd "$here"
exec node --test --test-force-exit --test-reporter=spec --test-timeout=600000 fleet.test.mjs

#!/usr/bin/env bash
# Runs the compatibility suite (official socket.io-client in Node and headless
# Chromium) against a fixture server:
#   COMPAT_SERVER=go   (default) test/compat/fixture/goserver, built from this checkout
#   COMPAT_SERVER=node the reference socket.io 4.8 server, test/compat/fixture/node-server.mjs
# Extra arguments are passed to `node --test` (e.g. --test-name-pattern=rooms).
# Exit code: node's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
server="${COMPAT_SERVER:-go}"

if [[ ! -d "$here/node_modules/socket.io-client" ]]; then
	echo "compat: node_modules missing; run: (cd $here && npm ci)" >&2
	exit 2
fi

tmp="$(mktemp -d -t socketfleet-compat.XXXXXX)"
server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port="$(free_port)"
page_port="$(free_port)"
while [[ "$page_port" == "$port" ]]; do page_port="$(free_port)"; done
export COMPAT_PAGE_PORT="$page_port"
export COMPAT_ORIGINS="http://127.0.0.1:${page_port},http://allowed.test"

log="$tmp/server.log"
case "$server" in
go)
	(cd "$root" && go build -o "$tmp/goserver" ./test/compat/fixture/goserver)
	PORT="$port" "$tmp/goserver" >"$log" 2>&1 &
	server_pid=$!
	;;
node)
	PORT="$port" node "$here/fixture/node-server.mjs" >"$log" 2>&1 &
	server_pid=$!
	;;
*)
	echo "compat: COMPAT_SERVER must be go or node, got '$server'" >&2
	exit 2
	;;
esac

for _ in $(seq 1 200); do
	if grep -q '^listening ' "$log" 2>/dev/null; then break; fi
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "compat: $server fixture exited early:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.05
done
if ! grep -q '^listening ' "$log"; then
	echo "compat: $server fixture did not print 'listening' within 10s:" >&2
	cat "$log" >&2
	exit 1
fi

export COMPAT_URL="http://127.0.0.1:${port}"
export COMPAT_SERVER="$server"
echo "compat: testing the $server fixture at $COMPAT_URL" >&2

status=0
(cd "$here" && node --test --test-concurrency=1 --test-reporter=spec "$@" tests/) || status=$?
if [[ $status -ne 0 ]]; then
	echo "compat: server log ($server):" >&2
	tail -n 50 "$log" >&2 || true
fi
exit "$status"

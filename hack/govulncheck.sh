#!/usr/bin/env bash
# `make vulncheck` (part of `make test`): govulncheck on the main module, offline and reproducible.
#
# The vulnerability database is not fetched from its web site: it is built from the golang.org/x/vulndb module
# (its data/osv/ holds one OSV JSON file per report) with that module's own cmd/indexdb, which writes the
# layout govulncheck reads with `-db file://` (index/db.json, index/modules.json, index/vulns.json, ID/*.json).
# Both tools and the database come from the Go module proxy at the pinned versions below, into bin/tools/, so
# the same tree gives the same answer on every machine until the versions are bumped here.
#
# A finding fails the run unless hack/govulncheck-accepted.txt lists its ID with the reason it cannot be fixed
# in go.mod (today: the Go standard library of the machine's toolchain). Only findings that govulncheck traces
# to code the module calls count (its default, symbol-level mode).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

GOVULNCHECK_VERSION="${GOVULNCHECK_VERSION:-v1.9.0}"
VULNDB_VERSION="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
tools="$root/bin/tools"
govulncheck="$tools/govulncheck-$GOVULNCHECK_VERSION/govulncheck"
indexdb="$tools/vulndb-$VULNDB_VERSION/indexdb"
db="$tools/vulndb-$VULNDB_VERSION/db"

if [[ ! -x "$govulncheck" ]]; then
  GOBIN="$(dirname "$govulncheck")" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi
if [[ ! -f "$db/index/db.json" ]]; then
  if [[ ! -x "$indexdb" ]]; then
    GOBIN="$(dirname "$indexdb")" go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
  fi
  src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')"
  if [[ ! -d "$src/data/osv" ]]; then
    echo "govulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv directory" >&2
    exit 1
  fi
  rm -rf "$db.tmp"
  "$indexdb" -vulns "$src/data/osv" -out "$db.tmp"
  mv "$db.tmp" "$db"
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
rc=0
"$govulncheck" -db "file://$db" ./... >"$out" 2>&1 || rc=$?
# 0: nothing found; 3: vulnerabilities found (listed in the output); anything else: govulncheck failed.
if ((rc != 0 && rc != 3)); then
  cat "$out" >&2
  echo "govulncheck: failed (exit $rc)" >&2
  exit 1
fi
mapfile -t found < <(sed -nE 's/^Vulnerability #[0-9]+: (GO-[0-9]+-[0-9]+)$/\1/p' "$out" | sort -u)
accepted="$(grep -oE '^GO-[0-9]+-[0-9]+' hack/govulncheck-accepted.txt | sort -u || true)"
unaccepted=()
for id in "${found[@]}"; do
  if ! grep -qx "$id" <<<"$accepted"; then unaccepted+=("$id"); fi
done
if ((${#unaccepted[@]} > 0)); then
  cat "$out" >&2
  echo "govulncheck: ${#unaccepted[@]} finding(s) not in hack/govulncheck-accepted.txt: ${unaccepted[*]}" >&2
  echo "govulncheck: bump the module in go.mod (go get MODULE@FIXED && go mod tidy), or accept it there with the reason" >&2
  exit 1
fi
echo "govulncheck: ${#found[@]} finding(s) reached by the code, all accepted in hack/govulncheck-accepted.txt (database golang.org/x/vulndb@$VULNDB_VERSION)"

#!/usr/bin/env bash
# `make verify`: every generated or derived file is up to date. Runs the generators and fails if they changed
# anything: the version (hack/version.sh), controller-gen (make generate manifests), the builder golden files
# (make update-golden), go mod tidy (both modules) and the socket.io-client bundle built into the runtime
# (make demo-client). On a clean checkout (CI) this is `git diff --exit-code` after the generators; on a tree with
# uncommitted work it compares the tree before and after, so your own edits do not count as a difference.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

snapshot() {
  { git status --porcelain=v1 --untracked-files=all
    git diff HEAD --binary
    git ls-files --others --exclude-standard -z | xargs -0 -r sha256sum
  } | sha256sum
}
step() { echo "verify: $*" >&2; }

before="$(snapshot)"
clean=false
[[ -z "$(git status --porcelain=v1 --untracked-files=all)" ]] && clean=true

step "VERSION agrees with the chart, manifests and defaults"
hack/version.sh
step "make generate manifests"
make --no-print-directory generate manifests >/dev/null
step "make update-golden"
make --no-print-directory update-golden >/dev/null
step "go mod tidy"
go mod tidy
(cd test/chart && go mod tidy)
step "make demo-client"
make --no-print-directory demo-client >/dev/null

if [[ "$(snapshot)" != "$before" ]]; then
  echo "verify: the generators changed the tree; commit what they produced:" >&2
  git status --short >&2
  if $clean; then git --no-pager diff >&2; fi
  exit 1
fi
step "ok: nothing to regenerate"

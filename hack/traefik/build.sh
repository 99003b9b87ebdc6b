#!/usr/bin/env bash
# Builds Traefik (a real ingress controller with sticky-cookie support) from source with the Go toolchain,
# because no binary download site is reachable from the build machines: a throwaway module requiring
# github.com/traefik/traefik/v3 with the replace and exclude lines of Traefik's own go.mod (a consumer module
# must repeat them). Cached in bin/traefik-<version>/traefik; only the first run pays (~6 min on 2 cores).
#
# Usage: hack/traefik/build.sh     # builds if needed, prints the binary path on stdout (logs on stderr)
# Environment: TRAEFIK_VERSION (default v3.6.12; later 3.7.x releases miss a nested module on the proxy)
set -euo pipefail

TRAEFIK_VERSION="${TRAEFIK_VERSION:-v3.6.12}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${REPO_ROOT}/bin/traefik-${TRAEFIK_VERSION}/traefik"
WORK="${REPO_ROOT}/bin/.build/traefik-${TRAEFIK_VERSION}"
GO="${GO:-go}"

if [[ -x "${OUT}" ]]; then
  echo "${OUT}"
  exit 0
fi
echo "traefik: building ${TRAEFIK_VERSION} from source in ${WORK} (about 6 minutes when cold)" >&2
mkdir -p "${WORK}" "$(dirname "${OUT}")"
cd "${WORK}"
rm -f go.mod go.sum
GOFLAGS=-mod=mod "${GO}" mod download "github.com/traefik/traefik/v3@${TRAEFIK_VERSION}" >&2
upstream="$("${GO}" env GOMODCACHE)/github.com/traefik/traefik/v3@${TRAEFIK_VERSION}/go.mod"
{
  echo "module socketfleet.local/traefik-build"
  echo
  echo "go 1.26"
  echo
  echo "require github.com/traefik/traefik/v3 ${TRAEFIK_VERSION}"
  echo
  # Traefik's replace block and exclude lines, copied from its go.mod at build time.
  sed -n '/^replace (/,/^)/p' "${upstream}"
  grep -E '^exclude ' "${upstream}" || true
} > go.mod
cat > tools.go <<'SRC'
//go:build tools

// Package tools pins the traefik command so `go build` can resolve it in this throwaway module.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
SRC
GOFLAGS=-mod=mod CGO_ENABLED=0 "${GO}" build -trimpath \
  -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=${TRAEFIK_VERSION#v}" \
  -o "${OUT}.tmp" github.com/traefik/traefik/v3/cmd/traefik >&2
mv "${OUT}.tmp" "${OUT}"
echo "${OUT}"

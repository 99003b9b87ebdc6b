#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (default
# 100000x, i.e. 100,000 inputs): `make test` runs it so that a decoder crash on
# hostile input cannot reach main, `make fuzz FUZZTIME=10m` is a longer campaign.
# make test counts inputs instead of seconds: Go 1.26's fuzz coordinator can fail
# a duration-bounded run with a bare "context deadline exceeded" (no failing
# input) when the deadline passes while a starved worker is mid-input (Go issue
# 75804, fixed in Go 1.27); an input count has no deadline to race. A failing input is written to
# the package's testdata/fuzz/<Target>/ by go test: commit it as a regression seed
# once the decoder is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-100000x}"
# FUZZPARALLEL bounds the fuzzing worker processes (go test -parallel; default:
# one per CPU), e.g. to leave a core free during a long campaign.
parallel=()
if [[ -n "${FUZZPARALLEL:-}" ]]; then parallel=(-parallel "$FUZZPARALLEL"); fi
targets=0
while IFS=: read -r file line; do
	pkg="./$(dirname "$file")"
	name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(.*/\1/' <<<"$line")"
	echo "fuzz: $pkg $name ($fuzztime)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg"
	targets=$((targets + 1))
done < <(git ls-files -co --exclude-standard -- '*_test.go' | xargs grep -H '^func Fuzz' | sort)
if ((targets == 0)); then
	echo "fuzz: no fuzz target found" >&2
	exit 1
fi
echo "fuzz: $targets targets, $fuzztime each, no failure"

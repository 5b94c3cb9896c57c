#!/usr/bin/env bash
# Local proof of the CI fan-out and fan-in (GitHub is not reachable from
# here): every entry of the matrix generated from race-hunt.toml, one after
# another, with the same command the hunt jobs use (ci/hunt.sh), then the
# gate over their reports. A host-only entry (the native arm64 runner) is
# reported as not planned on this host, and the gate accepts that with
# --local.
#   bash ci/local-matrix.sh [--budget B] [--fixture NAMES] [--seed N] [--reports DIR]
# --budget goes to every hunt (the gate reads it from the reports);
# --fixture narrows every hunt and what the gate expects; --seed seeds
# every hunt alike (CI leaves each hunt its own); --reports is where the
# hunts' reports and the gate's merged.json go (default reports/, emptied
# first).
set -euo pipefail
cd "$(dirname "$0")/.."
hunt_args=()
gate_args=()
reports=reports
while [ "$#" -gt 0 ]; do
    case "$1" in
        --budget)
            hunt_args+=(--budget "$2")
            shift 2
            ;;
        --fixture)
            hunt_args+=(--fixture "$2")
            gate_args+=(--fixture "$2")
            shift 2
            ;;
        --seed)
            hunt_args+=(--seed "$2")
            shift 2
            ;;
        --reports)
            reports=$2
            shift 2
            ;;
        *)
            echo "usage: bash ci/local-matrix.sh [--budget B] [--fixture NAMES] [--seed N] [--reports DIR]" >&2
            exit 2
            ;;
    esac
done
rm -rf "$reports"
mkdir -p "$reports"
entries=$(cargo xtask race-hunt matrix --format lines)
status=0
while read -r id detectors target shard runs_on; do
    [ -n "$id" ] || continue
    echo "::group::hunt $id ($detectors on $target, shard $shard, runs on $runs_on)"
    start=$(date +%s%N)
    code=0
    REPORTS="$reports" bash ci/hunt.sh "$id" "$detectors" "$target" "$shard" "${hunt_args[@]}" || code=$?
    end=$(date +%s%N)
    echo "::endgroup::"
    echo "hunt $id: exit $code in $(( (end - start) / 1000000 )) ms"
    [ "$code" -eq 0 ] || status=$code
done <<< "$entries"
echo "hunts done (last failing exit code: ${status}); gating"
exec cargo xtask race-hunt gate --local --require-all "${gate_args[@]}" \
    --json "$reports/merged.json" --junit "$reports/merged.junit.xml" "$reports"/*-[0-9]*.json

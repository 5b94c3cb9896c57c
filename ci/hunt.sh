#!/usr/bin/env bash
# One hunt job of the CI matrix (`cargo xtask race-hunt matrix`), exactly as
# the workflow runs it: its detectors on its target, its shard, every
# prerequisite required, the report and JUnit under reports/ ($REPORTS when
# set). `exec`, so a cancel (SIGTERM) reaches the xtask, which stops its
# cells and still writes the report.
#   bash ci/hunt.sh ID DETECTORS TARGET SHARD [extra race-hunt arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -lt 4 ]; then
    echo "usage: bash ci/hunt.sh ID DETECTORS TARGET SHARD [race-hunt arguments]" >&2
    exit 2
fi
id=$1 detectors=$2 target=$3 shard=$4
shift 4
reports=${REPORTS:-reports}
mkdir -p "$reports"
exec cargo xtask race-hunt --detector "$detectors" --target "$target" --shard "$shard" \
    --require-all --json "$reports/$id.json" --junit "$reports/$id.junit.xml" "$@"

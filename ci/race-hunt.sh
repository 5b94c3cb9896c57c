#!/usr/bin/env bash
# The main job (README): every detector on every target, a skipped cell is
# a failure, report in race-hunt.json. Extra arguments go to the xtask, e.g.
#   bash ci/race-hunt.sh --detector tsan --json tsan.json
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo xtask race-hunt --target all --detector all --require-all --json race-hunt.json "$@"

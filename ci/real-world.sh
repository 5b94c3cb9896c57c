#!/usr/bin/env bash
# The real-world check (README, "Real-world check"): race-hunt on published
# crates it was not written for. Fetches pinned versions from crates.io with
# cargo into target/real-world/, hunts their own multithreaded tests with
# ci/real-world.toml at the default budget and gates on it (exit 0: every
# cell graded ok).
#
#   bash ci/real-world.sh                         # every crate, stress,chaos,tsan,miri
#   bash ci/real-world.sh --crate once_cell --detector stress,tsan
#   bash ci/real-world.sh --fetch-only
#
# Other arguments go to `cargo xtask race-hunt` (e.g. --seed 7).
set -euo pipefail
cd "$(dirname "$0")/.."

# name version: the pinned crates. thread_local 1.1.3 / 1.1.4 is the racy /
# fixed pair of RUSTSEC-2022-0006.
CRATES=(
    "once_cell 1.21.3"
    "crossbeam-utils 0.8.21"
    "crossbeam-channel 0.5.15"
    "crossbeam-queue 0.3.12"
    "parking_lot 0.12.3"
    "thread_local 1.1.3"
    "thread_local 1.1.4"
)

only=""
detectors="stress,chaos,tsan,miri"
fetch_only=0
rest=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --crate) only="$2"; shift 2 ;;
        --detector) detectors="$2"; shift 2 ;;
        --fetch-only) fetch_only=1; shift ;;
        *) rest+=("$1"); shift ;;
    esac
done

out=target/real-world
# race-hunt's builds go where the repository's other hunts put theirs (by
# default they would go beside the manifest, under ci/).
export RACE_HUNT_TARGET_DIR="${RACE_HUNT_TARGET_DIR:-$PWD/target/race-hunt}"
mkdir -p "$out/fetch"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# Suites of the manifest for a crate name (a crate's suites are named
# after it: NAME or NAME-VERSION).
suites_of() {
    grep -E '^name = "' ci/real-world.toml | sed -E 's/^name = "(.*)"$/\1/' |
        grep -E "^$1(-[0-9.]+)?$" || true
}

fetch() {
    local name="$1" version="$2" dir="$out/$1-$2"
    # A throwaway package that depends on exactly this version: cargo
    # downloads and checksums the .crate and unpacks it in its registry.
    local pkg="$out/fetch/$name-$version"
    mkdir -p "$pkg/src"
    : >"$pkg/src/lib.rs"
    printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n\n[workspace]\n' \
        "$name" "$version" >"$pkg/Cargo.toml"
    cargo fetch --quiet --manifest-path "$pkg/Cargo.toml"
    local src
    src=$(find "$cargo_home/registry/src" -mindepth 2 -maxdepth 2 -type d -name "$name-$version" | head -n 1)
    [[ -n "$src" ]] || { echo "real-world: $name $version not found under $cargo_home/registry/src" >&2; exit 4; }
    rm -rf "$dir"
    cp -R "$src" "$dir"
    chmod -R u+w "$dir"
    # The crate is hunted as its own workspace (it sits under this
    # repository's directory, whose Cargo.toml is another workspace), with
    # the dependency versions pinned in ci/real-world/locks/.
    printf '\n[workspace]\n' >>"$dir/Cargo.toml"
    cp "ci/real-world/locks/$name-$version.lock" "$dir/Cargo.lock"
    # Reviewed ThreadSanitizer suppressions for the crate (each entry with
    # its reason), found by the tests relative to the crate's directory.
    if [[ -f "ci/real-world/tsan/$name.supp" ]]; then
        cp "ci/real-world/tsan/$name.supp" "$dir/race-hunt-tsan.supp"
    fi
    # Tests race-hunt's check adds to the crate (README, "Real-world check").
    if [[ -d "ci/real-world/tests/$name" ]]; then
        mkdir -p "$dir/tests"
        cp ci/real-world/tests/"$name"/*.rs "$dir/tests/"
    fi
}

fixtures=()
for entry in "${CRATES[@]}"; do
    read -r name version <<<"$entry"
    if [[ -n "$only" && ",$only," != *",$name,"* ]]; then
        # The manifest names every crate's directory, and race-hunt checks
        # each when it reads it: a crate not hunted this time is fetched
        # once (never refetched under a run that may be using it).
        [[ -d "$out/$name-$version" ]] || fetch "$name" "$version"
        continue
    fi
    fetch "$name" "$version"
    while IFS= read -r s; do
        [[ -n "$s" ]] && fixtures+=("$s")
    done < <(suites_of "$name")
done
if [[ ${#fixtures[@]} -eq 0 ]]; then
    echo "real-world: no crate named $only (see CRATES in ci/real-world.sh)" >&2
    exit 2
fi
[[ $fetch_only -eq 1 ]] && exit 0

list=$(IFS=,; echo "${fixtures[*]}")
exec cargo xtask race-hunt --manifest ci/real-world.toml --detector "$detectors" \
    --fixture "$list" --json "$out/report.json" ${rest[@]+"${rest[@]}"}

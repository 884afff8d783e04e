#!/usr/bin/env bash
# Run every test of chronous on a fresh machine: builds what it needs first.
# Usage: bash scripts/test-all.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# A target dir outside the clone keeps later runs on the same machine incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${CHRONOUS_CACHE:-$HOME/.cache/chronous}/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n==> %s\n' "$*"; }

step "rust toolchain: $(cargo --version)"

step "docker: $(docker version --format 'engine {{.Server.Version}}' 2>&1 || echo 'NOT REACHABLE')"
# The images the simulator's tests run, built from Debian packages (skips what exists).
bash images/build.sh

if [ -f scripts/moto.sh ]; then
  step "moto (the local AWS API stand-in for the aws backend's tests)"
  bash scripts/moto.sh
fi

if command -v cargo-nextest >/dev/null 2>&1; then
  step "tests (cargo nextest, target dir $CARGO_TARGET_DIR)"
  cargo nextest run --workspace --no-fail-fast --failure-output final "$@"
else
  step "tests (cargo test; install cargo-nextest for a faster run)"
  cargo test --workspace --no-fail-fast "$@"
fi

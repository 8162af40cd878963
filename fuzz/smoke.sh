#!/usr/bin/env bash
# A short fuzz run of every target (default 5 seconds each), for CI when cargo-fuzz is
# installed: `cargo install cargo-fuzz --locked`. Works on stable through RUSTC_BOOTSTRAP.
# New inputs go to a temporary directory; the committed seed corpus is only read.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-5}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  echo "== $target (${seconds}s)"
  cargo fuzz run -s none "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" 2>&1 | grep -E '^(Done|#[0-9]+ +DONE)|ERROR|panicked' || true
  if ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
    echo "fuzz target $target found a problem:" >&2
    ls "$work" >&2
    exit 1
  fi
done

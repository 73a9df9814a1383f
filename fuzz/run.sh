#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET [SECONDS]
# Installs cargo-fuzz if missing, then fuzzes TARGET for SECONDS (default 60) with overflow checks
# and debug assertions on. Uses AddressSanitizer on nightly when available, else `--sanitizer none`
# on the stable toolchain. New crashes land in fuzz/artifacts/TARGET/; copy them to
# fuzz/regressions/TARGET/ so `cargo test -p baton-fuzz` replays them for ever.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-60}
cd "$(dirname "$0")"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz (once per machine)..."
  cargo install --locked cargo-fuzz
fi
toolchain=()
sanitizer=(--sanitizer none)
if [ "${BATON_FUZZ_NIGHTLY:-0}" = 1 ] && rustup toolchain list 2>/dev/null | grep -q nightly; then
  toolchain=(+nightly)
  sanitizer=(--sanitizer address)
fi
mkdir -p "corpus/$target"
# Fuzz into a scratch corpus seeded from the committed one, so CI runs never dirty the tree.
scratch=$(mktemp -d)
cp -r "corpus/$target/." "$scratch/" 2>/dev/null || true
cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --debug-assertions "$target" "$scratch" -- \
  -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
rm -rf "$scratch"

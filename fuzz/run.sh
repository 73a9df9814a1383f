#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET [SECONDS]
# Installs cargo-fuzz if missing, then fuzzes TARGET for SECONDS (default 60) with overflow checks
# and debug assertions on (`--debug-assertions`). Uses `--sanitizer none` on the stable toolchain;
# with BATON_FUZZ_NIGHTLY=1 and a nightly toolchain installed, AddressSanitizer on nightly.
# Fuzzes a scratch copy of the committed corpus, so the tree is never dirtied. New crashes land
# in fuzz/artifacts/TARGET/ (git-ignored); copy them to fuzz/regressions/TARGET/ so
# `cargo test -p baton-fuzz` replays them for ever (see fuzz/README.md). Exits non-zero on a
# crash. Extra arguments after SECONDS go to libFuzzer.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET [SECONDS] [LIBFUZZER ARGS...]}
seconds=${2:-60}
shift $(($# < 2 ? $# : 2))
cd "$(dirname "$0")"
case "$target" in
  kernel_inputs) max_len=4096 ;;
  snapshot_decode) max_len=65536 ;; # realistic snapshots are a few KB to 50 KB
  scenario_decode | trace_decode | swf_parse) max_len=8192 ;;
  *)
    echo "unknown target $target (known: kernel_inputs snapshot_decode scenario_decode trace_decode swf_parse)" >&2
    exit 2
    ;;
esac
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
# Fuzz into a scratch corpus seeded from the committed one, so CI runs never dirty the tree.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ -d "corpus/$target" ]; then
  cp -r "corpus/$target/." "$scratch/"
fi
dict=()
if [ -f "dicts/$target.dict" ]; then
  dict=(-dict="dicts/$target.dict")
fi
cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" --debug-assertions "$target" "$scratch" -- \
  -max_total_time="$seconds" -max_len="$max_len" -timeout=30 -rss_limit_mb=2048 \
  "${dict[@]}" -print_final_stats=1 "$@"

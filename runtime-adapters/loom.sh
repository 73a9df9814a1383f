#!/usr/bin/env bash
# Model-checks the adapter's shared state with loom (tests/loom_*.rs), one binary per model.
# smol and tokio do not build under `--cfg loom`, so the build uses no runtime feature, in its
# own target directory (the cfg changes every crate's build).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
target_dir="${LOOM_TARGET_DIR:-../target/loom}"
tests=()
for file in tests/loom_*.rs; do
    tests+=(--test "$(basename "$file" .rs)")
done
cargo test -p baton-runtime --no-default-features --release --target-dir "$target_dir" "${tests[@]}"

#!/usr/bin/env bash
# The turmoil end-to-end campaign, for CI: every network scenario over SEEDS seeds (default 100),
# every seed run twice (the two event-log hashes must match), then the broken-adapter tests over
# 10 seeds, the hand-written plans and the determinism audit. About a minute on 2 cores once the
# test binaries are built (the same ones `cargo test --workspace --all-features` builds).
#
#   sim/net/run.sh [SEEDS] [--tokio-unstable]
#
# A failure prints the seed and a one-line replay command, e.g.
#   BATON_NET_SEED=17 BATON_NET_LOG=/tmp/baton-net-chaos-17.log \
#     cargo test -p baton-sim-net --test net_scenarios -- chaos --exact
#
# --tokio-unstable also builds the suite with `--cfg tokio_unstable` (turmoil then seeds tokio's
# RNG; a separate target directory, several minutes) and checks that it gives the very same log
# hashes as the normal build: the code under test never draws from tokio's RNG.
set -euo pipefail
cd "$(dirname "$0")/../.."

seeds=100
unstable=0
for arg in "$@"; do
    case "$arg" in
        --tokio-unstable) unstable=1 ;;
        ''|*[!0-9]*) echo "usage: sim/net/run.sh [SEEDS] [--tokio-unstable]" >&2; exit 2 ;;
        *) seeds="$arg" ;;
    esac
done

start=$(date +%s)
echo "== network scenarios: $seeds seeds each, every seed run twice"
BATON_NET_SEEDS="$seeds" BATON_NET_RERUN=1 \
    cargo test -q -p baton-sim-net --test net_scenarios -- --nocapture
echo "== broken adapters are caught (10 seeds each)"
BATON_NET_SEEDS=10 cargo test -q -p baton-sim-net --test net_broken_adapter
echo "== hand-written plans, determinism audit"
cargo test -q -p baton-sim-net --test net_targeted --test net_determinism

if [ "$unstable" = 1 ]; then
    echo "== --cfg tokio_unstable gives the same logs"
    normal=$(mktemp) tokio_unstable=$(mktemp)
    BATON_NET_HASHES="$normal" BATON_NET_SEEDS=20 \
        cargo test -q -p baton-sim-net --test net_determinism -- write_log_hashes
    RUSTFLAGS="${RUSTFLAGS:-} --cfg tokio_unstable" BATON_NET_HASHES="$tokio_unstable" \
        BATON_NET_SEEDS=20 cargo test -q -p baton-sim-net --target-dir target/tokio-unstable \
        --test net_determinism -- write_log_hashes
    diff "$normal" "$tokio_unstable"
    echo "$(wc -l < "$normal") (scenario, seed) log hashes identical with and without tokio_unstable"
fi
echo "== sim/net done in $(( $(date +%s) - start ))s"

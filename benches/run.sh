#!/usr/bin/env bash
# Runs every benchmark behind BENCHMARKS.md in one go, then prints its tables and redraws the
# complexity curve. About 17 minutes on 2 cores. Results: target/criterion (criterion's own),
# target/baton-bench (python.json, memory.json, snapshot.json, machine.txt, tables.md, logs).
#
#   bash benches/run.sh            # everything
#   QUICK=1 bash benches/run.sh    # criterion --test mode only (each benchmark once, no timing)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${QUICK:-}" == 1 ]]; then
    cargo bench -p baton-benches -- --test
    python3 benches/python/asyncio_baseline.py --self-test
    exit 0
fi

OUT=target/baton-bench
rm -rf target/criterion "$OUT"
mkdir -p "$OUT"
export BATON_BENCH_OUT="$PWD/$OUT"
{
    echo "nproc: $(nproc)"
    grep -m1 "model name" /proc/cpuinfo
    rustc --version
    python3 --version
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    git status --short -- kernel runtime-adapters sim benches 2>/dev/null | sed 's/^/dirty: /'
    echo "kernel diff sha256: $(git diff -- kernel 2>/dev/null | sha256sum | cut -c1-16)"
    echo "runtime-adapters diff sha256: $(git diff -- runtime-adapters 2>/dev/null | sha256sum | cut -c1-16)"
    echo "sim diff sha256: $(git diff -- sim 2>/dev/null | sha256sum | cut -c1-16)"
    date -u +"date: %Y-%m-%dT%H:%MZ"
} > "$OUT/machine.txt"

# 1. Memory, then criterion (the kernel and baselines (a)-(c), the adapters against bare spawn on
#    smol and tokio, the simulator with the oracle off and full): one build, one run.
cargo bench -p baton-benches --bench memory --bench kernel --bench adapters --bench simulator \
    -- --warm-up-time 1 --measurement-time 3 \
    2>&1 | tee "$OUT/criterion.log"

# 2. Baseline (d): Python asyncio, the same op-cycle.
python3 benches/python/asyncio_baseline.py --self-test
{
    python3 benches/python/asyncio_baseline.py --sessions 1 1000 100000 --queued 100 100000
    python3 benches/python/asyncio_baseline.py --sessions 1000 --queued 1000000 --rounds 5
} | tee "$OUT/python.json"

# 3. Tables and the curve.
cargo run --release -p baton-benches --features report --bin report -- \
    --png docs/op_cycle_curve.png > "$OUT/tables.md"
cat "$OUT/machine.txt" "$OUT/tables.md"

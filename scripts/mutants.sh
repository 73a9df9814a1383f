#!/usr/bin/env bash
# Mutation testing of the kernel (`baton-kernel`) with cargo-mutants. Not part of CI.
#
# Usage:
#   scripts/mutants.sh [--workspace] [--shard K/N] [-- <extra cargo-mutants args>]
#
#   (default)      mutate kernel/src, run the kernel's own tests (`cargo test -p baton-kernel
#                  --tests`: unit + integration tests, including the proptests; no doctests)
#   --workspace    mutate kernel/src, run every test in the workspace for each mutant
#                  (simulator, adapters, fuzz harness tests, benches, doctests): hours
#   --shard K/N    run only shard K of N (K is 0-based; round-robin, so every file is sampled),
#                  e.g. --shard 0/8
#
# Anything after `--` is passed to cargo-mutants as is (e.g. `-- --re 'Kernel::settle'`,
# `-- --file kernel/src/query.rs`, `-- --iterate`).
#
# Environment:
#   MUTANTS_JOBS      parallel build/test jobs            (default 1)
#   MUTANTS_TIMEOUT   test timeout per mutant, seconds    (default: cargo-mutants sets it from
#                     the baseline test time, at least MUTANTS_MIN_TIMEOUT)
#   MUTANTS_MIN_TIMEOUT  lower bound for that, seconds     (default 60)
#   MUTANTS_DEBUGINFO set to 1 to keep debug info in test builds (default off: faster links)
#   MUTANTS_OUT       directory for mutants.out           (default target/mutants)
#   MUTANTS_NICE      nice level for the whole run        (default 19)
#   MUTANTS_SCOPE     `kernel` or `workspace`             (default kernel; same as --workspace)
#
# cargo-mutants copies the workspace to a scratch directory and builds there, so it never
# touches this tree's sources or build artifacts (`-- --copy-target true` copies target/ into
# the scratch directory to speed up the first build). Reports: $MUTANTS_OUT/mutants.out/
# ({caught,missed,timeout,unviable}.txt, outcomes.json). docs/mutants.md has the last results.
set -euo pipefail

cd "$(dirname "$0")/.."

scope="${MUTANTS_SCOPE:-kernel}"
shard=""
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --workspace) scope=workspace; shift ;;
        --shard) shard="$2"; shift 2 ;;
        --shard=*) shard="${1#--shard=}"; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants not found: installing it (cargo install cargo-mutants --locked)" >&2
    cargo install cargo-mutants --locked
fi

jobs="${MUTANTS_JOBS:-1}"
timeout="${MUTANTS_TIMEOUT:-}"
min_timeout="${MUTANTS_MIN_TIMEOUT:-60}"
out="${MUTANTS_OUT:-target/mutants}"
nice_level="${MUTANTS_NICE:-19}"

args=(mutants --package baton-kernel --jobs "$jobs" --output "$out"
    --minimum-test-timeout "$min_timeout")
if [[ -n "$timeout" ]]; then
    args+=(--timeout "$timeout")
fi
if [[ -n "$shard" ]]; then
    args+=(--shard "$shard" --sharding round-robin)
fi
if [[ "${MUTANTS_DEBUGINFO:-0}" != 1 ]]; then
    # Each mutant relinks every test binary; without debug info that is much quicker.
    export CARGO_PROFILE_TEST_DEBUG=0
fi

case "$scope" in
    kernel)
        # The kernel's own tests only. `--tests` (on the build and the test command) builds and
        # runs the lib's unit tests and every kernel/tests/*.rs binary, and skips the doctests
        # and the example: rustdoc would compile those again for every mutant.
        args+=(--cargo-arg=--tests)
        ;;
    workspace)
        # Every test of every workspace crate, doctests included, for each mutant.
        args+=(--test-workspace true)
        ;;
    *) echo "MUTANTS_SCOPE must be kernel or workspace, not $scope" >&2; exit 2 ;;
esac

echo "cargo-mutants $(cargo mutants --version 2>/dev/null | awk '{print $2}'), scope $scope${shard:+, shard $shard}" >&2
echo "+ nice -n $nice_level cargo ${args[*]} ${extra[*]:-}" >&2
mkdir -p "$out"
start=$(date +%s)
status=0
nice -n "$nice_level" cargo "${args[@]}" "${extra[@]}" || status=$?
end=$(date +%s)
echo "wall time: $((end - start)) s (cargo-mutants exit status $status: 0 all caught, 2 some missed, 3 some timed out)" >&2
exit "$status"

#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder of untrusted bytes (fuzz/README.md).
#
#   scripts/fuzz.sh smoke                   replay every committed corpus, then fuzz each
#                                           target briefly; fails on any crash
#   scripts/fuzz.sh long TARGET RUNS [ARGS] one long run (RUNS executions, -1 = until stopped);
#                                           ARGS go to libFuzzer, e.g. -max_total_time=600
#   scripts/fuzz.sh cmin TARGET             merge what long runs found into fuzz/corpus/TARGET,
#                                           minimised
#   scripts/fuzz.sh list                    the targets
#
# Environment:
#   COLLABZIUM_CACHE           cache dir (default ~/.cache/collabzium)
#   COLLABZIUM_FUZZ_TARGET_DIR cargo target dir for the fuzz build (default $CACHE/fuzz-target)
#   COLLABZIUM_FUZZ_SMOKE_S    seconds of fuzzing per target in smoke (default 10)
#
# Installs what it needs if missing: a nightly toolchain (rustup, minimal profile) and
# cargo-fuzz (cargo install). Build output, working corpora and crash artifacts live in the
# cache, never in the checkout; only `cmin` writes to fuzz/corpus.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(dirname "$(dirname "$SELF")")"
cd "$REPO_ROOT/fuzz"

CACHE="${COLLABZIUM_CACHE:-${HOME:-/root}/.cache/collabzium}"
export CARGO_TARGET_DIR="${COLLABZIUM_FUZZ_TARGET_DIR:-$CACHE/fuzz-target}"
WORK="$CACHE/fuzz"
SMOKE_S="${COLLABZIUM_FUZZ_SMOKE_S:-10}"
CARGO_FUZZ_VERSION="0.13.2"
# Hang and memory limits for every run: a decoder taking a second on one input is a bug.
LIMITS=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

TARGETS=(envelope pairing_messages signed_request relay_bodies program instrument answers
    research_csv rrule pairing_code)

die() { echo "fuzz.sh: $*" >&2; exit 2; }

ensure_tools() {
    command -v rustup >/dev/null || die "rustup is required (https://rustup.rs)"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing the nightly toolchain" >&2
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
        # Its own temporary build dir, not the fuzz target dir.
        env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

build() {
    local t0=$SECONDS
    cargo +nightly fuzz build --release >&2
    echo "fuzz.sh: build took $((SECONDS - t0)) s" >&2
}

is_target() {
    local t
    for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

# run TARGET LOG ARGS...: fuzz with the cache corpus (written) and the committed corpus
# (read only); crash inputs go to $WORK/artifacts/TARGET/.
run() {
    local t="$1" log="$2"
    shift 2
    mkdir -p "$WORK/corpus/$t" "$WORK/artifacts/$t"
    cargo +nightly fuzz run --release "$t" "$WORK/corpus/$t" "corpus/$t" -- \
        "${LIMITS[@]}" -artifact_prefix="$WORK/artifacts/$t/" "$@" >"$log" 2>&1
}

stat() { # stat LOG NAME: a -print_final_stats value
    sed -n "s/^stat::$2: *//p" "$1" | tail -1
}

smoke() {
    local t log failed=() t0=$SECONDS
    build
    mkdir -p "$WORK/logs"
    for t in "${TARGETS[@]}"; do
        log="$WORK/logs/smoke-$t.log"
        local seeds
        seeds=$(find "corpus/$t" -type f | wc -l)
        # A fresh scratch corpus each time, so the smoke is bounded and repeatable.
        rm -rf "$WORK/corpus/$t"
        if run "$t" "$log" -max_total_time="$SMOKE_S"; then
            printf 'fuzz smoke: %-17s ok     %9s execs  %s seeds replayed  %s s\n' \
                "$t" "$(stat "$log" number_of_executed_units)" "$seeds" "$SMOKE_S"
        else
            printf 'fuzz smoke: %-17s FAILED (log: %s, inputs: %s)\n' "$t" "$log" \
                "$WORK/artifacts/$t/"
            grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$log" | head -5 || true
            failed+=("$t")
        fi
    done
    echo "fuzz smoke: ${#TARGETS[@]} targets in $((SECONDS - t0)) s"
    [ ${#failed[@]} -eq 0 ] || die "crashed: ${failed[*]}"
}

long() {
    local t="$1" runs="$2" log
    shift 2
    is_target "$t" || die "unknown target $t (scripts/fuzz.sh list)"
    build
    mkdir -p "$WORK/logs"
    log="$WORK/logs/long-$t.log"
    echo "fuzz.sh: $t for $runs runs; log $log" >&2
    local rc=0
    run "$t" "$log" -runs="$runs" "$@" || rc=$?
    printf 'fuzz long: %s: %s execs, %s exec/s, corpus %s inputs, rc %s\n' "$t" \
        "$(stat "$log" number_of_executed_units)" "$(stat "$log" average_exec_per_sec)" \
        "$(find "$WORK/corpus/$t" "corpus/$t" -type f | wc -l)" "$rc"
    return "$rc"
}

cmin() {
    local t="$1"
    is_target "$t" || die "unknown target $t"
    local merged="$WORK/cmin-$t"
    rm -rf "$merged" && mkdir -p "$merged"
    cargo +nightly fuzz run --release "$t" "$merged" "corpus/$t" "$WORK/corpus/$t" -- \
        -merge=1 "${LIMITS[@]}" >"$WORK/logs/cmin-$t.log" 2>&1
    rm -rf "corpus/$t" && mv "$merged" "corpus/$t"
    echo "fuzz cmin: $t: $(find "corpus/$t" -type f | wc -l) inputs, $(du -sh "corpus/$t" | cut -f1)"
}

case "${1:-}" in
smoke) ensure_tools; smoke ;;
long) [ $# -ge 3 ] || die "usage: scripts/fuzz.sh long TARGET RUNS [ARGS]"; ensure_tools; shift; long "$@" ;;
cmin) [ $# -eq 2 ] || die "usage: scripts/fuzz.sh cmin TARGET"; ensure_tools; mkdir -p "$WORK/logs"; cmin "$2" ;;
list) printf '%s\n' "${TARGETS[@]}" ;;
*) sed -n '2,18p' "$SELF" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

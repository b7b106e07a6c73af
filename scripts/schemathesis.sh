#!/usr/bin/env bash
# Schemathesis against a real relay: `collabzium relay serve` on loopback with
# a temporary SQLite database, tested from its own /openapi.json in two passes:
#   1. unsigned (whatever headers schemathesis makes up);
#   2. signed by a test device (scripts/schemathesis_hooks.py signs each request
#      with the RFC 9421 profile of core/src/sync/signing.rs).
# Checks: no 5xx, status codes and response bodies conform to the document.
# Usage: scripts/schemathesis.sh [COLLABZIUM_BIN]   (default: env COLLABZIUM_BIN,
#        else target/debug/collabzium). Env: COLLABZIUM_CACHE (venv location),
#        SCHEMATHESIS_MAX_EXAMPLES (per operation and pass, default 40),
#        SCHEMATHESIS_SEED (default: random; the seed is printed),
#        SCHEMATHESIS_KEEP=1 keeps the relay's database, log and reports.
# Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-${COLLABZIUM_BIN:-$ROOT/target/debug/collabzium}}"
[[ -x "$BIN" ]] || { echo "collabzium binary not found at $BIN (build it or pass its path)" >&2; exit 1; }
CACHE="${COLLABZIUM_CACHE:-$HOME/.cache/collabzium}"
EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-40}"
SEED="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"

# The venv lives outside the checkout, pinned; a pin change rebuilds it.
PINS=(schemathesis==4.32.5 cryptography==50.0.2)
VENV="$CACHE/schemathesis-venv"
STAMP="$VENV/.collabzium-pins"
if ! [[ -x "$VENV/bin/schemathesis" && "$(cat "$STAMP" 2>/dev/null)" == "${PINS[*]}" ]] ||
    ! "$VENV/bin/python" -c 'import schemathesis, cryptography' >/dev/null 2>&1; then
    command -v python3 >/dev/null || { echo "python3 not found (needed for schemathesis)" >&2; exit 1; }
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV" >&2 || { echo "python3 -m venv failed (Debian: install python3-venv)" >&2; exit 1; }
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=cryptography \
        --cache-dir "$CACHE/pip" "${PINS[@]}" >&2
    echo "${PINS[*]}" >"$STAMP"
fi

WORK="$(mktemp -d)"
RELAY_PID=""
cleanup() {
    if [[ -n "$RELAY_PID" ]] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
    if [[ -n "${SCHEMATHESIS_KEEP:-}" ]]; then
        echo "kept $WORK (relay.out is the relay's log)" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# Rate limits off: the fuzzer would otherwise spend its budget on 429s.
# Stdout and the log go to plain files, so the relay never blocks on a full pipe.
: >"$WORK/relay.out"
"$BIN" relay serve --database "sqlite:$WORK/relay.db" --listen 127.0.0.1:0 \
    --ip-rate-limit 0 --rate-limit 100000/s --log-format json \
    >"$WORK/relay.out" 2>"$WORK/relay.log" &
RELAY_PID=$!
# First stdout line: {"listening":"127.0.0.1:PORT"}.
line=""
for _ in $(seq 300); do
    line="$(head -n 1 "$WORK/relay.out" 2>/dev/null || true)"
    [[ -n "$line" ]] && break
    kill -0 "$RELAY_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$line" ]]; then
    echo "relay did not start:" >&2
    cat "$WORK/relay.log" >&2
    exit 1
fi
ADDR="$(sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' <<<"$line")"
[[ -n "$ADDR" ]] || { echo "unexpected relay banner: $line" >&2; exit 1; }
BASE="http://$ADDR"
echo "relay at $BASE, seed $SEED, $EXAMPLES examples per operation" >&2

run_pass() {
    local name="$1"
    shift
    echo "== schemathesis: $name ==" >&2
    "$VENV/bin/schemathesis" run "$BASE/openapi.json" --url "$BASE" \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
        --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 --request-timeout 10 \
        --phases examples,coverage,fuzzing --no-color --report junit \
        --report-junit-path "$WORK/$name.xml" "$@"
}

# Schemathesis keeps a cache in the working directory: keep it out of the checkout.
cd "$WORK"
status=0
SECONDS=0
run_pass unsigned || status=1
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/scripts" run_pass signed || status=1
echo "schemathesis: both passes took ${SECONDS}s" >&2

if ! kill -0 "$RELAY_PID" 2>/dev/null; then
    echo "the relay died during the run:" >&2
    tail -n 50 "$WORK/relay.log" "$WORK/relay.out" >&2
    status=1
fi
exit "$status"

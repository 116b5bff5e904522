#!/usr/bin/env bash
# RFC 4475 torture messages thrown at the running server over UDP and over
# TCP (../shared/conformance/run_torture.py --strict): no process dies, the
# server keeps answering, and every message gets the answer the manifest
# expects — 50 of 50 on each (Kamailio manages 29 and 32), with
# etc/sipr.cfg under `strict_checks=yes` and with a cfg calling
# sanity_check; etc/sipr.cfg as it is (the core refuses only what
# Kamailio's core refuses, the rest is the script's) has its score
# printed and must not crash anything; then the shared fuzz
# replay (seeds and 1,000 mutants) over each: no process dies, OPTIONS
# still answered. Skipped with a message when ../shared/conformance is not
# beside the repository.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
CONF=${SIPR_SHARED_DIR:-$ROOT/../shared}/conformance
PORT=${SIPR_TEST_PORT:-25180}
if [ ! -f "$CONF/run_torture.py" ]; then
    echo "FAIL: $CONF/run_torture.py not found (the shared/ folder must sit beside the repository, or set SIPR_SHARED_DIR)" >\&2
    exit 1
fi
WORK=$(mktemp -d /tmp/sipr-torture.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/sanity.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
debug=0
loadmodule "sl"
loadmodule "sanity"
request_route {
    # the stock cfg's checks plus Proxy-Require (512) and Contact URIs (uri 8)
    if (!sanity_check("18407", "15")) { exit; }
    if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }
    if (method == "ACK") { exit; }
    sl_send_reply("405", "Method Not Allowed");
}
CFG

torture() {
    local name=$1 transport=$2 want=$3
    shift 3
    "$SIPR" -DD -E -L "$MODDIR" "$@" -m 32 >"$WORK/sipr-$name.log" 2>&1 &
    PID=$!
    sleep 1
    kill -0 "$PID" || { cat "$WORK/sipr-$name.log"; echo "FAIL: sipr did not start ($name)"; exit 1; }
    out=$(timeout 300 python3 "$CONF/run_torture.py" 127.0.0.1 "$PORT" "$transport" --pid "$PID" --strict --timeout 0.5 \
        --out "$WORK/torture-$name.tsv" 2>&1 | tail -1)
    echo "$name: $out"
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    case "$out" in
        "torture: 50 messages, 50 acceptable, 0 crashes") ;;
        "torture: 50 messages, "*" acceptable, 0 crashes") [ "$want" = any ] || {
            awk -F'\t' 'NR>1 && $11 != "ok" && $11 != "ACCEPTABLE"' "$WORK/torture-$name.tsv" >&2 || true
            echo "FAIL: expected 50/50 acceptable ($name)"; exit 1; } ;;
        *) awk -F'\t' 'NR>1 && $11 != "ok" && $11 != "ACCEPTABLE"' "$WORK/torture-$name.tsv" >&2 || true
           echo "FAIL: expected 50/50 acceptable and no crash ($name)"; exit 1 ;;
    esac
}

# The robustness replay (run_fuzz.py): the shared fuzz seeds (PROTOS,
# pjproject, Kamailio test messages) plus deterministic mutants of them
# and of the RFC 4475 messages; no process may die and OPTIONS must still
# be answered.
replay() {
    local transport=$1 out
    "$SIPR" -DD -E -L "$MODDIR" -f "$ROOT/etc/sipr.cfg" -A "SIPR_LISTEN=127.0.0.1:$PORT" -m 32 \
        >"$WORK/sipr-replay-$transport.log" 2>&1 &
    PID=$!
    sleep 1
    kill -0 "$PID" || { cat "$WORK/sipr-replay-$transport.log"; echo "FAIL: sipr did not start (replay)"; exit 1; }
    local workers
    workers=$(pgrep -P "$PID" | tr '\n' ' ')
    out=$(timeout 300 python3 "$CONF/run_fuzz.py" 127.0.0.1 "$PORT" "$transport" --pid "$PID" \
        --mutations "${SIPR_TEST_MUTATIONS:-1000}" --max-seconds 200 --out "$WORK/replay-$transport.tsv" 2>&1 | tail -1)
    echo "replay-$transport: $out"
    for w in $workers; do kill -0 "$w" 2>/dev/null || { echo "FAIL: process $w died in the replay"; exit 1; }; done
    kill -TERM "$PID"
    wait "$PID" || true
    PID=
    case "$out" in
        "fuzz: "*" sent, 0 crashes, server alive=yes, answers OPTIONS=yes") ;;
        *) echo "FAIL: the server did not survive the fuzz replay over $transport"; exit 1 ;;
    esac
}

printf 'strict_checks=yes\n' | cat - "$ROOT/etc/sipr.cfg" > "$WORK/strict.cfg"
for transport in udp tcp; do
    torture "strict-$transport" "$transport" all -f "$WORK/strict.cfg" -A "SIPR_LISTEN=127.0.0.1:$PORT"
    torture "sanity-$transport" "$transport" all -f "$WORK/sanity.cfg"
    torture "bare-$transport" "$transport" any -f "$ROOT/etc/sipr.cfg" -A "SIPR_LISTEN=127.0.0.1:$PORT"
    if [ -f "$CONF/run_fuzz.py" ]; then replay "$transport"; fi
done
echo "torture: ok"

#!/usr/bin/env bash
# Stateless forwarding end to end: sipp UAC → sipr forward() → sipp UAS,
# INVITE/100/200/ACK/BYE/200 at 500 calls/s, 2,500 calls, 0 failures
# (the scenarios of ../shared/bench; skipped when it is absent).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
SCEN=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench/scenarios
PORT=${SIPR_TEST_PORT:-25240}
CALLS=${SIPR_TEST_CALLS:-2500}
RATE=${SIPR_TEST_RATE:-500}
if [ ! -f "$SCEN/invite_uac.xml" ] || [ ! -f "$SCEN/uas.xml" ]; then
    echo "FAIL: $SCEN/{invite_uac,uas}.xml not found (the shared/ folder must sit beside the repository, or set SIPR_SHARED_DIR)" >\&2
    exit 1
fi
e2e_workdir fwd

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=1
request_route {
    forward("127.0.0.1", $((PORT + 1)));
}
CFG
sipp -sf "$SCEN/uas.xml" -i 127.0.0.1 -p $((PORT + 1)) -nostdin -timeout 100 >"$WORK/uas.out" 2>&1 &
UAS=$!
PIDS+=("$UAS")
"$SIPR" -DD -E -f "$WORK/sipr.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
sleep 1
kill -0 "$SPID" || fail "sipr did not start"
timeout 120 sipp -sf "$SCEN/invite_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 2)) \
    -m "$CALLS" -r "$RATE" -nostdin -timeout 100 >"$WORK/uac.out" 2>&1 || fail "sipp UAC exited with $?"
sipp_counts "$WORK/uac.out"
echo "successful=$ok failed=$bad"
[ "$ok" = "$CALLS" ] && [ "$bad" = "0" ] || fail "expected $CALLS calls, 0 failed"
kill -TERM "$SPID" "$UAS" 2>/dev/null || true
wait "$SPID" 2>/dev/null || true
wait "$UAS" 2>/dev/null || true
echo "forward_udp: ok"

#!/usr/bin/env bash
# tm under load, end to end on loopback (issue 16): sipp UAC → sipr
# (t_relay, record_route, loose_route: ../shared/bench's proxy workload)
# → sipp UAS, 20,000 calls (INVITE/200/ACK/BYE/200) at 500/s, 0 failed.
# Afterwards, once wait_timer has run, tm.stats shows no transaction left
# (as many freed as created) and the shm pool's used bytes are back to
# what they were before the load, within 4 KiB: the shm timer wheel keeps
# the entries its busiest moment needed, for reuse (by design: a timer id
# must never point at freed memory), and a few more may be needed than in
# the warm-up that sized them. A leaked transaction per thousand calls
# would be over 30 KiB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25260}
CALLS=${SIPR_TEST_CALLS:-20000}
RATE=${SIPR_TEST_RATE:-500}
e2e_workdir tm-load

command -v sipp >/dev/null || fail "sipp not installed (apt-get install sip-tester; make test does)"
[ -x "$SIPR" ] || fail "$SIPR not built"
mkdir -p "$WORK/run"

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=1
run_dir="$WORK/run"
loadmodule "tm"
loadmodule "tmx"
loadmodule "sl"
loadmodule "rr"
loadmodule "pv"
loadmodule "maxfwd"
loadmodule "siputils"
loadmodule "textops"
loadmodule "jsonrpcs"
modparam("jsonrpcs", "transport", 4)
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 30000)
modparam("tm", "wait_timer", 2000)
modparam("rr", "append_fromtag", 0)
request_route {
    if (method == "OPTIONS" && \$rU == \$null) { sl_send_reply("200", "OK"); exit; }
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) {
            if (!t_relay()) { sl_reply_error(); }
            exit;
        }
        if (is_method("ACK")) {
            if (t_check_trans()) { t_relay(); }
            exit;
        }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) { t_relay(); }
        exit;
    }
    if (!is_method("ACK")) {
        if (t_precheck_trans()) { t_check_trans(); exit; }
        t_check_trans();
    }
    remove_hf("Route");
    if (is_method("INVITE")) { record_route(); }
    \$du = "sip:127.0.0.1:$((PORT + 2))";
    if (!t_relay()) { sl_reply_error(); }
    exit;
}
CFG

rpc() { rpc_call "$WORK/run/sipr_rpc.sock" "$1"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -P "$WORK/sipr.pid" -m 64 >"$WORK/sipr.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do [ -S "$WORK/run/sipr_rpc.sock" ] && break; sleep 0.1; done
[ -S "$WORK/run/sipr_rpc.sock" ] || fail "sipr did not start"

timeout 300 sipp -sf "$ROOT/test/scenarios/uas.xml" -i 127.0.0.1 -p $((PORT + 2)) -nostdin -bg \
    -trace_err -error_file "$WORK/uas_err.log" >"$WORK/uas.out" 2>&1 || true
UAS=$(pgrep -f "sipp -sf $ROOT/test/scenarios/uas.xml -i 127.0.0.1 -p $((PORT + 2))" | head -1)
[ -n "$UAS" ] || fail "the sipp UAS did not start"
PIDS+=("$UAS")

uac() { # calls rate
    timeout 300 sipp -sf "$ROOT/test/scenarios/invite_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 1)) \
        -m "$1" -r "$2" -l 5000 -nostdin -timeout 240 -recv_timeout 10000 >"$WORK/uac.out" 2>&1 \
        || fail "sipp exited with $? ($(tail -3 "$WORK/uac.out"))"
    sipp_counts "$WORK/uac.out"
    [ "$ok" = "$1" ] && [ "$bad" = "0" ] || fail "$1 calls at $2/s: $ok successful, $bad failed"
}

settle() { # waits until no transaction is left (wait_timer 2 s)
    for _ in $(seq 100); do
        [ "$(field "$(rpc tm.stats)" current)" = "0" ] && return 0
        sleep 0.1
    done
    fail "transactions left after the load: $(rpc tm.stats)"
}

echo "== warm-up: $((RATE * 5)) calls at $RATE/s"
uac $((RATE * 5)) "$RATE"
settle
idle=$(field "$(rpc core.shmmem)" used)

echo "== $CALLS calls at $RATE/s through t_relay + record_route + loose_route"
uac "$CALLS" "$RATE"
echo "   $ok calls completed, $bad failed"
settle
stats=$(rpc tm.stats)
after=$(field "$(rpc core.shmmem)" used)
echo "   tm.stats: $stats"
echo "   shm used: $idle bytes idle before, $after after"
[ "$(field "$stats" created)" = "$(field "$stats" freed)" ] || fail "transactions created and freed differ: $stats"
[ "$after" -le $((idle + 4096)) ] || fail "shm used grew from $idle to $after bytes: a leak"
grep -E "panicked|hit a bug" "$WORK/sipr.log" && fail "a process logged a bug"
echo "PASS: tm load"

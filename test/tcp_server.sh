#!/usr/bin/env bash
# End-to-end over TCP, the real binary on loopback: OPTIONS answered by
# sl_send_reply over one long-lived connection (sipp, 20,000 at 2,000/s)
# and over a new connection per request (4,000 at 400/s: sipp's own
# connection-per-call mode saturates a core near 500 calls/s on a 2-core
# box, against Kamailio as against sipr), 0 failures, no connection left
# behind; CRLF keep-alives answered; a message split over writes
# and two in one write; idle connections closed after
# tcp_connection_lifetime; tcp_max_connections enforced with a log line;
# an oversized message closes its connection with a log line; tcp aliases
# (force_tcp_alias(), Via ;alias with tcp_accept_aliases); stateless
# forwarding UDP → TCP and TCP → UDP (INVITE/200/ACK/BYE at 500 calls/s,
# 0 failures, the scenarios of ../shared/bench when present).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25200}
CALLS=${SIPR_TEST_CALLS:-20000}
RATE=${SIPR_TEST_RATE:-2000}
SCEN=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench/scenarios
e2e_workdir tcp

command -v sipp >/dev/null || fail "sipp not installed (apt-get install sip-tester; make test does)"
[ -x "$SIPR" ] || fail "$SIPR not built"

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
tcp_children=2
tcp_connection_lifetime=3
tcp_max_connections=2048
debug=1
loadmodule "sl"
request_route {
    if (method == "OPTIONS") {
        if (\$rU == "force") { force_tcp_alias(); }
        sl_send_reply("200", "OK");
        exit;
    }
    if (method == "MESSAGE") {
        # to the R-URI user's port over TCP: a tcp alias or nothing
        \$du = "sip:127.0.0.1:" + \$rU + ";transport=tcp";
        forward();
        exit;
    }
    if (method == "ACK") { exit; }
    sl_send_reply("405", "Method Not Allowed");
}
CFG
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
PID=$!
PIDS+=("$PID")
sleep 1
kill -0 "$PID" 2>/dev/null || fail "sipr did not start"
tcp_main=""
for k in $(kids "$PID"); do [ "$(ps -o comm= -p "$k")" = "sipr-tcp-main" ] && tcp_main=$k; done
[ -n "$tcp_main" ] || fail "no sipr-tcp-main process"
[ "$(for k in $(kids "$PID"); do ps -o comm= -p "$k"; done | grep -c '^sipr-tcp-[0-9]')" = 2 ] || fail "expected 2 TCP readers"

options() { # name, sipp transport mode, local port, requests, rate
    timeout 120 sipp -sf "$ROOT/test/scenarios/options_uac.xml" "127.0.0.1:$PORT" -t "$2" -i 127.0.0.1 -p "$3" \
        -m "$4" -r "$5" -l 5000 -max_socket 6000 -nostdin -timeout 100 >"$WORK/sipp-$1.out" 2>&1 \
        || fail "sipp ($1) exited with $? ($(tail -3 "$WORK/sipp-$1.out"))"
    sipp_counts "$WORK/sipp-$1.out"
    echo "$1: successful=$ok failed=$bad"
    [ "$ok" = "$4" ] && [ "$bad" = "0" ] || fail "$1: expected $4 answered, 0 failed"
}
SHORT_CALLS=${SIPR_TEST_SHORT_CALLS:-4000}
SHORT_RATE=${SIPR_TEST_SHORT_RATE:-400}
echo "== OPTIONS over a new TCP connection each: $SHORT_CALLS at $SHORT_RATE/s"
options short tn $((PORT + 2)) "$SHORT_CALLS" "$SHORT_RATE"
echo "== OPTIONS over one long-lived TCP connection: $CALLS at $RATE/s"
options long-lived t1 $((PORT + 1)) "$CALLS" "$RATE"
# every connection closed by the peers is forgotten (the TCP main keeps
# no descriptor): wait out the lifetime of any straggler
sleep 4
nfd=$(ls "/proc/$tcp_main/fd" | wc -l)
[ "$nfd" -lt 40 ] || fail "the TCP main still holds $nfd descriptors after the connections ended"

echo "== a second server on the same TCP port is refused"
sed -e '/^listen=udp/d' "$WORK/sipr.cfg" > "$WORK/tcp-only.cfg"
if "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/tcp-only.cfg" -m 32 >"$WORK/second.log" 2>&1; then
    fail "a second server started on a busy TCP port"
fi
grep -q "cannot bind tcp:127.0.0.1:$PORT" "$WORK/second.log" || fail "no clear bind error: $(cat "$WORK/second.log")"

echo "== keep-alive, framing, idle lifetime, size limit, connection limit"
for check in keepalive split "idle 3" oversize; do
    # shellcheck disable=SC2086
    timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" $check || fail "tcp check '$check'"
done
grep -q "tcp: closing the connection with 127.0.0.1:[0-9]*: Message Too Large" "$WORK/sipr.log" \
    || fail "no log line for the oversized message"
echo "== tcp aliases: force_tcp_alias(); a Via ;alias without tcp_accept_aliases; neither"
timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" alias $((PORT + 20)) force yes || fail "tcp check 'alias force'"
timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" alias $((PORT + 21)) via no || fail "tcp check 'alias via' (off)"
timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" alias $((PORT + 22)) none no || fail "tcp check 'alias none'"
kill -0 "$PID" || fail "the server died"
kill -TERM "$PID"
wait "$PID" || true
for k in $(kids "$PID"); do kill -0 "$k" 2>/dev/null && fail "process $k survived"; done
sed -e 's/^tcp_max_connections=.*/tcp_max_connections=8\ntcp_accept_aliases=yes/' "$WORK/sipr.cfg" > "$WORK/limit.cfg"
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/limit.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
PID=$!
PIDS+=("$PID")
sleep 1
timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" limit 8 || fail "tcp check 'limit'"
grep -q "maximum number of connections exceeded (8)" "$WORK/sipr.log" || fail "no log line for the connection limit"
echo "== tcp aliases: a Via ;alias with tcp_accept_aliases=yes"
sleep 3.5 # the probe's connections outlive tcp_connection_lifetime first
timeout 30 python3 "$ROOT/test/tcp_probe.py" "$PORT" alias $((PORT + 23)) via yes || fail "tcp check 'alias via' (on)"
kill -TERM "$PID"
wait "$PID" || true

if [ -f "$SCEN/invite_uac.xml" ] && [ -f "$SCEN/uas.xml" ]; then
    echo "== stateless forwarding UDP → TCP and TCP → UDP, 2,500 calls each at 500/s"
    cat > "$WORK/fwd.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
debug=1
request_route {
    if (proto == UDP) { \$du = "sip:127.0.0.1:$((PORT + 3));transport=tcp"; }
    else { \$du = "sip:127.0.0.1:$((PORT + 4))"; }
    forward();
}
CFG
    sipp -sf "$SCEN/uas.xml" -t t1 -i 127.0.0.1 -p $((PORT + 3)) -nostdin -timeout 100 >"$WORK/uas-tcp.out" 2>&1 &
    PIDS+=("$!")
    sipp -sf "$SCEN/uas.xml" -i 127.0.0.1 -p $((PORT + 4)) -nostdin -timeout 100 >"$WORK/uas-udp.out" 2>&1 &
    PIDS+=("$!")
    "$SIPR" -DD -E -f "$WORK/fwd.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    sleep 1
    kill -0 "$PID" 2>/dev/null || fail "sipr did not start (forwarding)"
    for leg in "udp-to-tcp u1 $((PORT + 5))" "tcp-to-udp t1 $((PORT + 6))"; do
        set -- $leg
        timeout 120 sipp -sf "$SCEN/invite_uac.xml" "127.0.0.1:$PORT" -t "$2" -i 127.0.0.1 -p "$3" \
            -m 2500 -r 500 -nostdin -timeout 100 >"$WORK/uac-$1.out" 2>&1 || fail "sipp UAC ($1) exited with $?"
        sipp_counts "$WORK/uac-$1.out"
        echo "$1: successful=$ok failed=$bad"
        [ "$ok" = 2500 ] && [ "$bad" = "0" ] || fail "forwarding $1: expected 2500 calls, 0 failed"
    done
    kill -TERM "$PID"
    wait "$PID" || true
else
    fail "$SCEN/{invite_uac,uas}.xml not found (the shared/ folder must sit beside the repository)"
fi
echo "tcp_server: ok"

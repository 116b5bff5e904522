#!/usr/bin/env bash
# RFC 3263 next-hop resolution end to end: a stub nameserver on loopback
# (test/dns_stub.py, reached through SIPR_DNS_SERVER), sipr forward() to
# domain names: an SRV record for _sip._udp leads to a sipp UAS over UDP;
# a domain with only a _sip._tcp SRV record is reached over TCP (the
# transport DNS chose also in the Via); a name with a port uses its A
# record; an unknown name fails the forward (logged) and the server goes
# on; a silent nameserver costs a bounded wait. 200 calls each at 100/s,
# 0 failures (the scenarios of ../shared/bench; skipped when absent).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
SCEN=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench/scenarios
PORT=${SIPR_TEST_PORT:-25340}
if [ ! -f "$SCEN/invite_uac.xml" ] || [ ! -f "$SCEN/uas.xml" ]; then
    echo "FAIL: $SCEN/{invite_uac,uas}.xml not found (the shared/ folder must sit beside the repository, or set SIPR_SHARED_DIR)" >\&2
    exit 1
fi
e2e_workdir dns

DNS=$((PORT + 9))
python3 "$ROOT/test/dns_stub.py" "$DNS" \
    "_sip._udp.udp.sipr.test/SRV/10/0/$((PORT + 1))/uas.sipr.test" \
    "_sip._udp.udp.sipr.test/SRV/20/0/$((PORT + 7))/nowhere.sipr.test" \
    "_sip._tcp.tcp.sipr.test/SRV/10/0/$((PORT + 2))/uas.sipr.test" \
    "uas.sipr.test/A/127.0.0.1" >"$WORK/dns.log" 2>&1 &
PIDS+=("$!")
cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
debug=2
dns_retr_time=1
dns_retr_no=1
request_route {
    if (\$tU == "viaudp") { \$du = "sip:udp.sipr.test"; }
    else if (\$tU == "viatcp") { \$du = "sip:tcp.sipr.test"; }
    else if (\$tU == "viaa") { \$du = "sip:uas.sipr.test:$((PORT + 1))"; }
    else if (\$tU == "slow") { \$du = "sip:slow.sipr.test:5060"; }
    else { \$du = "sip:unknown.sipr.test"; }
    if (!forward()) { xlog("L_WARN", "forward of \$rm to \$du (To user \$tU) failed\n"); }
}
CFG
sed -i '1i loadmodule "xlog"' "$WORK/sipr.cfg"
sipp -sf "$SCEN/uas.xml" -i 127.0.0.1 -p $((PORT + 1)) -nostdin -timeout 100 >"$WORK/uas-udp.out" 2>&1 &
PIDS+=("$!")
sipp -sf "$SCEN/uas.xml" -t t1 -i 127.0.0.1 -p $((PORT + 2)) -nostdin -timeout 100 >"$WORK/uas-tcp.out" 2>&1 &
PIDS+=("$!")
SIPR_DNS_SERVER="127.0.0.1:$DNS" "$SIPR" -DD -E -L "$(dirname "$SIPR")" -f "$WORK/sipr.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
sleep 1
kill -0 "$SPID" || fail "sipr did not start"

calls() { # name, request user, local port
    timeout 120 sipp -sf "$SCEN/invite_uac.xml" "127.0.0.1:$PORT" -s "$2" -i 127.0.0.1 -p "$3" \
        -m 200 -r 100 -nostdin -timeout 100 >"$WORK/uac-$1.out" 2>&1 || fail "sipp UAC ($1) exited with $?"
    sipp_counts "$WORK/uac-$1.out"
    echo "$1: successful=$ok failed=$bad"
    [ "$ok" = 200 ] && [ "$bad" = "0" ] || fail "$1: expected 200 calls, 0 failed"
}
echo "== SRV _sip._udp: the priority-10 target over UDP"
calls srv-udp viaudp $((PORT + 3))
echo "== SRV _sip._tcp only: reached over TCP"
calls srv-tcp viatcp $((PORT + 4))
echo "== a name with a port: its A record"
calls a-record viaa $((PORT + 5))
# the answers were cached: each name asked about once per process at most
n=$(grep -c "question _sip._udp.udp.sipr.test 33" "$WORK/dns.log" || true)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "expected the SRV question once per worker, saw it $n times"

echo "== an unknown name: the forward fails, logged, the server goes on"
timeout 30 sipp -sf "$SCEN/invite_uac.xml" "127.0.0.1:$PORT" -s nobody -i 127.0.0.1 -p $((PORT + 6)) \
    -m 1 -r 1 -nostdin -timeout 5 >"$WORK/uac-unknown.out" 2>&1 || true
grep -q "forward: send failed: unknown.sipr.test has no address" "$WORK/sipr.log" || fail "no log line for the unknown name"
kill -0 "$SPID" || fail "sipr died"

echo "== a silent nameserver: the forward gives up within dns_retr_time × dns_retr_no (1 s)"
kill -STOP "${PIDS[0]}"
start=$(date +%s%N)
python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
m = ("OPTIONS sip:slow@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKslow\r\n"
     "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:slow@127.0.0.1>\r\nCall-ID: slow@t\r\nCSeq: 1 OPTIONS\r\n"
     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % port).encode()
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(m, ("127.0.0.1", port))
PY
for _ in $(seq 100); do grep -q "forward of OPTIONS to sip:slow.sipr.test:5060" "$WORK/sipr.log" && break; sleep 0.05; done
took=$((($(date +%s%N) - start) / 1000000))
grep -q "no DNS answer for slow.sipr.test" "$WORK/sipr.log" || fail "no timeout logged"
echo "silent nameserver: the forward failed after ${took} ms"
[ "$took" -lt 2500 ] || fail "the worker was blocked ${took} ms (more than one 1 s try plus slack)"
kill -CONT "${PIDS[0]}"
kill -0 "$SPID" || fail "sipr died"
kill -TERM "$SPID"
wait "$SPID" || true
echo "dns_forward: ok"

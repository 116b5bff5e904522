#!/usr/bin/env bash
# End-to-end, the real binary on loopback: sipr answers OPTIONS over UDP
# with sl_send_reply (sipp, 20,000 at 2,000/s, 0 failures), stops every
# process within 5 s on SIGTERM and removes its pidfile, shuts down when a
# worker dies, refuses a busy port and a bad cfg with clear errors, and
# does the same as a daemon (the launcher's exit status tells).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25160}
CALLS=${SIPR_TEST_CALLS:-20000}
RATE=${SIPR_TEST_RATE:-2000}
e2e_workdir e2e

command -v sipp >/dev/null || fail "sipp not installed (apt-get install sip-tester; make test does)"
[ -x "$SIPR" ] || fail "$SIPR not built"

# strict_checks: the core's own 416 is tested below
cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=1
memlog=1
strict_checks=yes
loadmodule "sl"
request_route {
    if (method == "OPTIONS") { sl_send_reply("200", "OK"); exit; }
    if (method == "ACK") { exit; }
    if (method == "INFO") { force_rport(); sl_send_reply("200", "OK"); exit; }
    sl_send_reply("405", "Method Not Allowed");
}
CFG


start() {
    "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -P "$WORK/sipr.pid" -m 32 >>"$WORK/sipr.log" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    for _ in $(seq 50); do
        [ -f "$WORK/sipr.pid" ] && [ -n "$(kids "$PID")" ] && return 0
        kill -0 "$PID" 2>/dev/null || fail "sipr exited at start"
        sleep 0.1
    done
    fail "sipr did not start"
}

echo "== OPTIONS over UDP: $CALLS at $RATE/s"
start
timeout 120 sipp -sf "$ROOT/test/scenarios/options_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 1)) \
    -m "$CALLS" -r "$RATE" -l 5000 -nostdin -timeout 100 -trace_stat -stf "$WORK/stat.csv" >"$WORK/sipp.out" 2>&1 \
    || fail "sipp exited with $? ($(tail -3 "$WORK/sipp.out"))"
sipp_counts "$WORK/sipp.out"
echo "successful=$ok failed=$bad"
[ "$ok" = "$CALLS" ] && [ "$bad" = "0" ] || fail "expected $CALLS answered, 0 failed"

echo "== replies go where the top Via says (RFC 3261 §18.2.2, RFC 3581): its port, or the source port with rport or force_rport()"
python3 - "$PORT" <<'PY' || fail "reply routing by Via"
import socket, sys
port = int(sys.argv[1])
catcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); catcher.bind(("127.0.0.1", 0)); catcher.settimeout(3)
src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); src.bind(("127.0.0.1", 0)); src.settimeout(3)
def request(via_port, rport, n, method="OPTIONS"):
    return ("%s sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKvia%d%s\r\n"
            "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: via%d@t\r\nCSeq: 1 %s\r\n"
            "Content-Length: 0\r\n\r\n" % (method, port, via_port, n, ";rport" if rport else "", n, method)).encode()
src.sendto(request(catcher.getsockname()[1], False, 1), ("127.0.0.1", port))
assert catcher.recv(4096).startswith(b"SIP/2.0 200"), "no reply at the Via port"
src.sendto(request(catcher.getsockname()[1], True, 2), ("127.0.0.1", port))
r = src.recv(4096)
assert r.startswith(b"SIP/2.0 200") and b";rport=%d" % src.getsockname()[1] in r, r
# force_rport() in the script: as if the Via had rport (Kamailio: rport
# added at the Via's end, no received for the same address)
src.sendto(request(catcher.getsockname()[1], False, 3, "INFO"), ("127.0.0.1", port))
r = src.recv(4096)
want = b";branch=z9hG4bKvia3;rport=%d\r\n" % src.getsockname()[1]
assert r.startswith(b"SIP/2.0 200") and want in r, r
assert b"\r\nServer: sipr (" in r, r
PY

echo "== the core's own refusals (416 before the script) are tagged and signed as sl's replies (RFC 3261 §8.2.6)"
python3 - "$PORT" <<'PY' || fail "core 416"
import re, socket, sys
port = int(sys.argv[1])
src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); src.bind(("127.0.0.1", 0)); src.settimeout(3)
req = ("INVITE http://example.com/ SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK416\r\n"
       "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: s416@t\r\nCSeq: 1 INVITE\r\n"
       "Content-Length: 0\r\n\r\n" % src.getsockname()[1]).encode()
tags = []
for _ in range(2):
    src.sendto(req, ("127.0.0.1", port))
    r = src.recv(4096)
    assert r.startswith(b"SIP/2.0 416 "), r
    assert b"\r\nServer: sipr (" in r, r
    m = re.search(rb"\r\nTo: <sip:x@127.0.0.1>;tag=([^\r;]+)\r\n", r)
    assert m, r
    tags.append(m.group(1))
assert tags[0] == tags[1], tags  # a retransmission gets the same tag
PY

echo "== the UDP socket's receive buffer grown to maxbuffer (256 KB; the kernel books twice), as Kamailio's"
rb=$(ss -Huamn "sport = :$PORT" | sed -n 's/.*rb\([0-9]*\).*/\1/p' | head -1)
want=$(( $(cat /proc/sys/net/core/rmem_max) < 262144 ? $(cat /proc/sys/net/core/rmem_max) : 262144 ))
[ "$(cat /proc/sys/net/core/rmem_default)" -ge $((2 * want)) ] || [ "$rb" = $((2 * want)) ] \
    || fail "receive buffer $rb bytes, expected $((2 * want))"

echo "== process names"
for w in $(kids "$PID"); do
    case "$(ps -o comm= -p "$w")" in sipr-udp-*|sipr-timer) ;; *) fail "process $w is not named sipr-udp-N or sipr-timer";; esac
done
[ "$(ps -o comm= -p "$PID")" = "sipr-main" ] || fail "main process not named sipr-main"

echo "== a second server on the same port is refused"
if "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 32 >"$WORK/second.log" 2>&1; then
    fail "a second server started on a busy port"
fi
grep -q "cannot bind udp:127.0.0.1:$PORT" "$WORK/second.log" || fail "no clear bind error: $(cat "$WORK/second.log")"

echo "== SIGTERM stops every process within 5 s and removes the pidfile"
workers=$(kids "$PID")
kill -TERM "$PID"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "main process still alive 5 s after SIGTERM"
for w in $workers; do kill -0 "$w" 2>/dev/null && fail "worker $w survived"; done
[ -f "$WORK/sipr.pid" ] && fail "pidfile left behind"
wait "$PID" || true
# memlog=1 <= debug=1: the shared memory summary at exit, as Kamailio's
grep -q "shared memory at exit: total" "$WORK/sipr.log" || fail "no memory summary at exit (memlog=1)"

echo "== a worker killed: logged with its rank, the server shuts down"
start
victim=$(kids "$PID" | head -1)
kill -KILL "$victim"
for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID" 2>/dev/null && fail "server still running after a worker died"
grep -q "worker $victim (rank [0-9]*, udp receiver child=[0-9]* sock=127.0.0.1:$PORT) was killed by signal 9" "$WORK/sipr.log" \
    || fail "the dead worker was not logged"
[ -n "$(kids "$PID")" ] && fail "workers left behind"
wait "$PID" || true

# alive and not a zombie (a daemon is reparented to an init that may reap late)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

echo "== daemon mode: the launcher returns 0 once serving; SIGTERM ends everything"
rm -f "$WORK/sipr.pid"
"$SIPR" -L "$MODDIR" -f "$WORK/sipr.cfg" -P "$WORK/sipr.pid" -m 32 >"$WORK/daemon.log" 2>&1 || fail "daemon launcher failed: $(cat "$WORK/daemon.log")"
[ -f "$WORK/sipr.pid" ] || fail "no pidfile"
DPID=$(cat "$WORK/sipr.pid")
PIDS+=("$DPID")
dworkers=$(kids "$DPID")
[ -n "$dworkers" ] || fail "daemon has no workers"
timeout 30 sipp -sf "$ROOT/test/scenarios/options_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 1)) \
    -m 20 -r 20 -nostdin -timeout 20 >"$WORK/sipp-d.out" 2>&1 || fail "sipp against the daemon failed"
echo "== daemon mode: a second daemon on the port fails at the launcher"
if "$SIPR" -L "$MODDIR" -f "$WORK/sipr.cfg" -m 32 >"$WORK/daemon2.log" 2>&1; then fail "second daemon started"; fi
grep -q "cannot bind udp:127.0.0.1:$PORT" "$WORK/daemon2.log" || fail "no bind error from the launcher: $(cat "$WORK/daemon2.log")"
kill -TERM "$DPID"
for _ in $(seq 50); do running "$DPID" || break; sleep 0.1; done
running "$DPID" && fail "daemon still running 5 s after SIGTERM"
for w in $dworkers; do running "$w" && fail "daemon worker $w survived"; done
[ -f "$WORK/sipr.pid" ] && fail "daemon left its pidfile"

echo "== the timer process runs module timers; a panicking timer does not stop it"
cat > "$WORK/timer.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=1
async_workers=1
debug=1
loadmodule "sl"
loadmodule "test_faulty"
loadmodule "xlog"
request_route { test_arm_timer("30"); sl_send_reply("200", "OK"); }
event_route[core:worker-one-init] { xlog("L_WARN", "worker one init: rank one at \$Ts\n"); }
CFG
SIPR_TEST_TIMER=1 "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/timer.cfg" -m 32 >"$WORK/timer.log" 2>&1 &
TPID=$!
PIDS+=("$TPID")
# up to 5 s for the timer to tick four times (slow CI machines)
for _ in $(seq 50); do grep -q "test_faulty timer tick 3" "$WORK/timer.log" && break; sleep 0.1; done
timer_pid=""
for k in $(kids "$TPID"); do [ "$(ps -o comm= -p "$k")" = "sipr-timer" ] && timer_pid=$k; done
[ -n "$timer_pid" ] || fail "no sipr-timer process"
grep -q "test_faulty timer tick 3" "$WORK/timer.log" || fail "timer ticks missing: $(cat "$WORK/timer.log")"
[ "$(grep -c "worker one init: rank one" "$WORK/timer.log")" = 1 ] || fail "event_route[core:worker-one-init] did not run once"
grep -q "test_faulty tick panicked: test_faulty timer panics on tick 2" "$WORK/timer.log" || fail "the timer panic was not logged"
echo "== a SIP worker arms shm wheel timers that the timer process runs (one cancelled, one handed to an async worker)"
timeout 30 sipp -sf "$ROOT/test/scenarios/options_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 1)) \
    -m 1 -r 1 -nostdin -timeout 20 >"$WORK/sipp-t.out" 2>&1 || fail "sipp against the timer cfg failed"
for _ in $(seq 50); do grep -q "test_faulty wheel timer 30 run 3" "$WORK/timer.log" && break; sleep 0.1; done
armer=$(sed -n 's/.*test_faulty armed wheel timer 30 in process \([0-9]*\) (second one cancelled: Yes).*/\1/p' "$WORK/timer.log")
[ -n "$armer" ] || fail "the worker did not arm (or cancel) its timers: $(grep test_faulty "$WORK/timer.log")"
for n in 1 2 3; do
    grep -q "test_faulty wheel timer 30 run $n in process $timer_pid\$" "$WORK/timer.log" \
        || fail "wheel timer run $n not in the timer process $timer_pid: $(grep 'wheel timer' "$WORK/timer.log")"
done
[ "$armer" != "$timer_pid" ] || fail "the timer was armed in the timer process itself"
async_pid=""
for k in $(kids "$TPID"); do [ "$(ps -o comm= -p "$k")" = "sipr-async-0" ] && async_pid=$k; done
[ -n "$async_pid" ] || fail "no sipr-async-0 process (async_workers=1)"
for _ in $(seq 50); do grep -q "test_faulty worker timer 30 run 2" "$WORK/timer.log" && break; sleep 0.1; done
for n in 1 2; do
    grep -q "test_faulty worker timer 30 run $n in process $async_pid\$" "$WORK/timer.log" \
        || fail "worker timer run $n not in the async worker $async_pid: $(grep 'worker timer' "$WORK/timer.log")"
done
grep -q "run 4" "$WORK/timer.log" && fail "the wheel timer ran a fourth time"
grep -q "cancelled wheel timer 30 ran" "$WORK/timer.log" && fail "a cancelled wheel timer ran"
echo "== module processes are forked and listed (test_faulty declares 2)"
nmod=0
# (the kernel keeps 15 bytes of a process name: sipr-test_fault)
for k in $(kids "$TPID"); do case "$(ps -o comm= -p "$k")" in sipr-test_fault*) nmod=$((nmod + 1));; esac; done
[ "$nmod" = 2 ] || fail "expected 2 sipr-test_faulty processes, found $nmod"
grep -q "test_faulty worker panicked: test_faulty process 1 gives up" "$WORK/timer.log" || fail "module process panic not logged"
kill -TERM "$TPID"
wait "$TPID" || true
running "$timer_pid" && fail "timer process survived"

echo "== SCTP: served where the kernel has it; else a warning (disable_sctp=auto) or an error (disable_sctp=no)"
printf 'listen=udp:127.0.0.1:%s\nlisten=sctp:127.0.0.1:%s\nchildren=1\nloadmodule "sl"\nrequest_route { sl_send_reply("200", "OK"); }\n' \
    "$PORT" "$PORT" > "$WORK/sctp.cfg"
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132)' 2>/dev/null; then
    "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sctp.cfg" -m 32 >"$WORK/sctp.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    sleep 1
    python3 - "$PORT" <<'PY' || fail "no 200 over SCTP"
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_SEQPACKET, 132)
s.settimeout(3)
m = ("OPTIONS sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/SCTP 127.0.0.1:9;branch=z9hG4bKsctp\r\n"
     "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: sctp@t\r\nCSeq: 1 OPTIONS\r\n"
     "Content-Length: 0\r\n\r\n" % port).encode()
s.sendto(m, ("127.0.0.1", port))
sys.exit(0 if s.recv(4096).startswith(b"SIP/2.0 200") else 1)
PY
    kill -TERM "$SPID"
    wait "$SPID" || true
    echo "SCTP served"
else
    "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sctp.cfg" -m 32 >"$WORK/sctp.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    sleep 1
    kill -0 "$SPID" 2>/dev/null || fail "sipr did not run without SCTP: $(cat "$WORK/sctp.log")"
    grep -q "the kernel does not support SCTP; SCTP disabled (disable_sctp=auto)" "$WORK/sctp.log" \
        || fail "no SCTP warning: $(cat "$WORK/sctp.log")"
    kill -TERM "$SPID"
    wait "$SPID" || true
    printf 'disable_sctp=no\n' | cat - "$WORK/sctp.cfg" > "$WORK/sctp-forced.cfg"
    if "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sctp-forced.cfg" -m 32 >"$WORK/sctp2.log" 2>&1; then
        fail "disable_sctp=no started without SCTP"
    fi
    grep -q "SCTP is required (disable_sctp=no) but the kernel does not support it" "$WORK/sctp2.log" \
        || fail "no clear SCTP error: $(cat "$WORK/sctp2.log")"
    echo "no SCTP in this kernel: warned, and refused when required"
fi

echo "== force_rport=yes (core parameter): every reply goes to the source port, rport added; server_signature=no: no Server header"
printf 'force_rport=yes\nserver_signature=no\n' | cat - "$WORK/sipr.cfg" > "$WORK/rport.cfg"
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/rport.cfg" -m 32 >"$WORK/rport.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 50); do [ -n "$(kids "$RPID")" ] && break; sleep 0.1; done
sleep 0.3
python3 - "$PORT" <<'PY' || fail "force_rport=yes not honoured: $(cat "$WORK/rport.log")"
import socket, sys
port = int(sys.argv[1])
src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); src.bind(("127.0.0.1", 0)); src.settimeout(3)
# the Via names a port nobody listens on: only the source port can get the reply
req = ("OPTIONS sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfr1\r\n"
       "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: fr1@t\r\nCSeq: 1 OPTIONS\r\n"
       "Content-Length: 0\r\n\r\n" % port).encode()
src.sendto(req, ("127.0.0.1", port))
r = src.recv(4096)
assert r.startswith(b"SIP/2.0 200") and b";branch=z9hG4bKfr1;rport=%d\r\n" % src.getsockname()[1] in r, r
assert b"\r\nServer:" not in r, r
# the core's own 400 (a CSeq that does not parse: built from the raw
# lines) goes there too
src.sendto(req.replace(b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"), ("127.0.0.1", port))
r = src.recv(4096)
assert r.startswith(b"SIP/2.0 400") and b"\r\nServer:" not in r, r
PY
kill -TERM "$RPID"
wait "$RPID" || true

echo "== a bad cfg: file:line:column, non-zero exit, nothing left running"
printf 'listen=udp:127.0.0.1:%s\nrequest_route {\n  nofunc();\n}\n' "$PORT" > "$WORK/bad.cfg"
if "$SIPR" -DD -E -f "$WORK/bad.cfg" >"$WORK/bad.log" 2>&1; then fail "a bad cfg started"; fi
grep -q "bad.cfg:3:3: unknown function 'nofunc'" "$WORK/bad.log" || fail "no position in: $(cat "$WORK/bad.log")"
pgrep -f "$WORK/bad.cfg" >/dev/null && fail "processes left behind"

echo "udp_server: ok"

#!/usr/bin/env bash
# The control surface end to end, on one running sipr: the issue's RPC
# commands over every transport — binrpc (Debian's kamcmd, unchanged) on
# the ctl module's unix socket, TCP and UDP; JSON-RPC on jsonrpcs' datagram
# socket, FIFO and HTTP (xhttp) — each giving the same answer on each;
# malformed binrpc and JSON, unknown methods, wrong parameter types and
# oversized requests refused with the protocol's error; a client that
# disconnects mid-reply; a flood of RPC requests while sipp sends SIP (no
# SIP failure); cfg.set reaching every process (core debug: a worker's log
# level; tm fr_timer: the next transaction's timeout); GET /metrics read by
# Prometheus' own text parser (python3-prometheus-client); a fuzz replay
# of the transports (seeded mutations of valid requests); every control
# process alive at the end; core.kill stops the server.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25380}
CTL_TCP=$((PORT + 1))
CTL_UDP=$((PORT + 2))
SILENT=$((PORT + 3))
e2e_workdir rpc-transports
command -v kamcmd >/dev/null || fail "kamcmd is missing (Debian's kamailio package; make test installs it)"
/usr/bin/python3 -c "import prometheus_client" 2>/dev/null ||
    fail "python3-prometheus-client is missing (make test installs it)"

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
debug=2
run_dir="$WORK/run"
loadmodule "sl"
loadmodule "pv"
loadmodule "xlog"
loadmodule "kex"
loadmodule "corex"
loadmodule "tm"
loadmodule "tmx"
loadmodule "textops"
loadmodule "usrloc"
loadmodule "registrar"
loadmodule "htable"
loadmodule "ctl"
loadmodule "cfg_rpc"
loadmodule "counters"
loadmodule "xhttp"
loadmodule "jsonrpcs"
loadmodule "xhttp_prom"
modparam("htable", "htable", "t=>size=4;")
modparam("ctl", "binrpc", "unix:sipr_ctl")
modparam("ctl", "binrpc", "tcp:127.0.0.1:$CTL_TCP")
modparam("ctl", "binrpc", "udp:127.0.0.1:$CTL_UDP")
modparam("jsonrpcs", "transport", 0)
modparam("jsonrpcs", "fifo_reply_dir", "$WORK/")
modparam("jsonrpcs", "dgram_workers", 2)
modparam("xhttp_prom", "xhttp_prom_stats", "all")
modparam("xhttp_prom", "prom_counter", "name=sip_requests; label=method:kind")
modparam("xhttp_prom", "prom_histogram", "name=rpc_seen; label=who; buckets=1:10")
modparam("counters", "script_counter", "hits")
request_route {
    cnt_inc("hits");
    if (is_method("OPTIONS")) { prom_counter_inc("sip_requests", "1", "\$rm", "all"); }
    if (\$rU == "dnsfail") { \$du = "sip:nosuch.invalid"; t_relay(); exit; }
    if (is_method("REGISTER")) { save("location"); exit; }
    if (is_method("INVITE")) {
        \$du = "sip:127.0.0.1:$SILENT";
        t_relay();
        exit;
    }
    xlog("L_DBG", "DBGMARK options\n");
    sl_send_reply("200", "OK");
}
event_route[xhttp:request] {
    if (prom_check_uri()) { prom_dispatch(); exit; }
    if (\$hu =~ "^/RPC") { jsonrpc_dispatch(); exit; }
    xhttp_reply("404", "Not Found", "text/plain", "nope");
}
CFG
# the nameserver: a port where none listens (the dns: statistics)
SIPR_DNS_SERVER="127.0.0.1:$((PORT + 7))" "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 64 >"$WORK/sipr.log" 2>&1 &
SIPR_PID=$!
PIDS+=("$SIPR_PID")
for _ in $(seq 100); do
    [ -S "$WORK/run/sipr_ctl" ] && [ -S "$WORK/run/sipr_rpc.sock" ] && [ -p "$WORK/run/sipr_rpc.fifo" ] && break
    sleep 0.1
done
[ -S "$WORK/run/sipr_ctl" ] || fail "no ctl socket in run_dir"
sleep 0.5
[ "$(stat -c %a "$WORK/run/sipr_ctl")" = 600 ] || fail "ctl socket mode $(stat -c %a "$WORK/run/sipr_ctl"), want 600 (ctl's default)"

echo "== every command over every transport"
PYTHONPATH="$ROOT/test" python3 - "$WORK" "$PORT" "$CTL_TCP" "$CTL_UDP" <<'PY' || fail "commands over the transports"
import json, os, socket, subprocess, sys, time
import rpc_clients as rc
work, port, ctl_tcp, ctl_udp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ctl = os.path.join(work, "run", "sipr_ctl")
dgram = os.path.join(work, "run", "sipr_rpc.sock")
fifo = os.path.join(work, "run", "sipr_rpc.fifo")

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

# a registration and an htable entry, so that ul.* and htable.* list something
sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sip.bind(("127.0.0.1", 0))
sip.settimeout(3)
me = sip.getsockname()[1]
sip.sendto(("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKreg1\r\n"
            "From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: reg1@t\r\nCSeq: 1 REGISTER\r\n"
            "Contact: <sip:alice@127.0.0.1:%d>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n" % (me, me)).encode(),
           ("127.0.0.1", port))
check(sip.recv(4096).startswith(b"SIP/2.0 200"), "REGISTER answered 200")
rc.json_dgram(dgram, "htable.sets", "t", "k", "v")

kamcmd_socks = ["unix:" + ctl, "tcp:127.0.0.1:%d" % ctl_tcp, "udp:127.0.0.1:%d" % ctl_udp]
def kamcmd(sock, *args):
    p = subprocess.run(["kamcmd", "-s", sock] + list(args), capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr

def json_all(method, *params):
    """The reply over the datagram socket, the FIFO and HTTP (ids aside)."""
    out = []
    for call in (lambda: rc.json_dgram(dgram, method, *params),
                 lambda: rc.json_fifo(fifo, work, method, *params),
                 lambda: rc.json_http(port, method, *params)):
        r = call()
        r.pop("id", None)
        out.append(r)
    return out

# values that move between two calls (times, seconds left, CPU) are not compared
volatile = ("core.uptime", "core.shmmem", "stats.get_statistics", "core.tcp_list", "core.tcp_info", "ul.dump",
            "mod.stats", "cnt.grp_get_all", "tm.stats")
commands = [
    ("core.version",), ("core.uptime",), ("core.ps",), ("core.psx",), ("core.info",), ("core.shmmem",),
    ("core.sockets_list",), ("core.aliases_list",), ("core.modules",), ("core.tcp_info",), ("core.tcp_list",),
    ("core.echo", "a", "b c"), ("core.ppdefines",), ("core.flags",),
    ("stats.get_statistics", "all"), ("stats.get_statistics", "core:"), ("stats.get_statistics", "rcv_requests"),
    ("stats.reset_statistics", "rcv_requests_options"), ("stats.clear_statistics", "rcv_requests_options"),
    ("corex.shm_summary",), ("mod.stats", "all", "shm"), ("mod.stats", "usrloc", "shm"),
    ("cfg.get", "core", "debug"), ("cfg.list",), ("cfg.help", "core", "debug"),
    ("cnt.get", "script", "hits"), ("cnt.reset", "script", "hits"), ("cnt.grp_get_all", "core"),
    ("system.listMethods",), ("system.methodHelp", "core.ps"),
    ("ul.dump",), ("ul.lookup", "location", "alice"), ("htable.dump", "t"), ("htable.get", "t", "k"),
    ("tm.stats",),
]
for cmd in commands:
    name = cmd[0]
    replies = json_all(*cmd)
    check(all("result" in r for r in replies), "%s over JSON: %r" % (" ".join(cmd), replies))
    if name not in volatile:
        check(replies[0] == replies[1] == replies[2], "%s: the same over dgram, FIFO and HTTP: %r" % (name, replies))
    texts = []
    for s in kamcmd_socks:
        rcode, text = kamcmd(s, *cmd)
        check(rcode == 0 and not text.startswith("error"), "kamcmd -s %s %s: %s" % (s, " ".join(cmd), text))
        texts.append(text)
    if name not in volatile:
        check(texts[0] == texts[1] == texts[2], "%s: the same over unix, TCP and UDP" % name)
# kamcmd prints what Kamailio's replies print
rcode, text = kamcmd(kamcmd_socks[0], "cfg.get", "core", "debug")
check(text.strip() == "2", "kamcmd cfg.get core debug: %r" % text)
rcode, text = kamcmd(kamcmd_socks[0], "ul.dump")
check("AoR: alice" in text and "Contact: {" in text, "kamcmd ul.dump lists alice: %s" % text)
rcode, text = kamcmd(kamcmd_socks[0], "htable.dump", "t")
check("name: k" in text and "value: v" in text, "kamcmd htable.dump: %s" % text)
ps = rc.json_dgram(dgram, "core.psx")["result"]
for want in ("ctl handler", "JSONRPCS FIFO", "JSONRPCS DATAGRAM", "XHTTP"):
    check(any(p["DSC"] == want for p in ps), "core.psx lists %s" % want)

print("== errors: unknown methods, bad parameters, malformed requests")
for s in kamcmd_socks:
    rcode, text = kamcmd(s, "no.such")
    check(text.strip() == "error: 500 - command no.such not found", "kamcmd unknown method: %r" % text)
    rcode, text = kamcmd(s, "cfg.set", "core", "debug", "notanumber")
    check(text.startswith("error: 400"), "kamcmd wrong parameter type: %r" % text)
for r in json_all("no.such"):
    check(r.get("error") == {"code": 500, "message": "Method Not Found"}, "JSON unknown method: %r" % r)
for r in json_all("cfg.get", "core", "nosuch"):
    check(r.get("error", {}).get("code") == 400, "JSON bad parameter: %r" % r)
unix, tcp, udp = ctl, ("tcp", "127.0.0.1", ctl_tcp), ("udp", "127.0.0.1", ctl_udp)
for addr in (unix, tcp, udp):
    flags, v = rc.binrpc(addr, None, raw=b"garbage\n")
    check(flags & 2 and v[0] == 400 and "corrupted" in v[1], "binrpc garbage on %r: %r" % (addr, v))
    flags, v = rc.binrpc(addr, None, raw=b"\xa1\x03\x02\x01\x02\x03\x04\x10\x05")
    check(flags & 2 and v[0] == 400, "binrpc non-string method on %r: %r" % (addr, v))
    # oversized: over binrpc_max_body_size (32 KB)
    flags, v = rc.binrpc(addr, "core.echo", "x" * 40000) if addr != udp else rc.binrpc(addr, "core.echo", "x" * 40000)
    check(flags & 2 and v[0] == 400 and "too big" in v[1], "binrpc oversized on %r: %r" % (addr, v))
    flags, v = rc.binrpc(addr, "core.echo", "still", "here")
    check(v == ["still", "here"], "binrpc after the refusals on %r: %r" % (addr, v))
# a datagram socket request bigger than its 64 KB buffer: no answer, server fine
try:
    rc.json_dgram(dgram, "core.echo", "x" * 70000, timeout=1)
    check(False, "an answer to a truncated JSON datagram")
except (socket.timeout, TimeoutError, OSError):
    pass
try:
    rc.json_dgram(dgram, None, raw=b"{not json", timeout=0.5)
    check(False, "an answer to bad JSON")
except (socket.timeout, TimeoutError):
    pass
code, _, body = rc.http(port, "POST", "/RPC", b"x" * (1024 * 1024 + 10))
check(code == 413, "HTTP body over 1 MB: %d %r" % (code, body[:80]))
code, _, body = rc.http(port, "GET", "/elsewhere")
check((code, body) == (404, b"nope"), "xhttp_reply: %d %r" % (code, body))
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"y" * 20000 + b"\r\n\r\n")
check(s.recv(100).startswith(b"HTTP/1.1 431"), "HTTP head over 16 KB: 431")
s.close()

print("== clients that go away mid-reply")
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ctl)
    s.sendall(rc.binrpc_packet("stats.get_statistics", ["all"]))
    s.close()
    h = socket.create_connection(("127.0.0.1", port))
    h.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    h.close()
flags, v = rc.binrpc(ctl, "core.echo", "alive")
check(v == ["alive"], "ctl after clients left mid-reply: %r" % v)
check(rc.json_http(port, "core.echo", "alive")["result"] == ["alive"], "xhttp after clients left mid-reply")

print("== cfg.set reaches every process")
log = os.path.join(work, "sipr.log")
def options(tag):
    sip.sendto(("OPTIONS sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s\r\n"
                "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: %s@t\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n" % (port, me, tag, tag)).encode(), ("127.0.0.1", port))
    return sip.recv(4096)
for i in range(4):
    options("before%d" % i)
time.sleep(0.2)
check(open(log).read().count("DBGMARK") == 0, "no debug lines at debug=2")
rcode, text = kamcmd(kamcmd_socks[0], "cfg.set", "core", "debug", "3")
check(rcode == 0 and text == "", "kamcmd cfg.set core debug 3: %r" % text)
for i in range(8):
    options("after%d" % i)
time.sleep(0.3)
marks = [l for l in open(log).read().splitlines() if "DBGMARK" in l]
check(len(marks) == 8, "every worker logs at debug 3 after cfg.set: %d lines" % len(marks))
check(json_all("cfg.get", "core", "debug")[0]["result"] == 3, "cfg.get sees the change")
kamcmd(kamcmd_socks[0], "cfg.set", "core", "debug", "2")
# tm's fr_timer: the next transaction to a silent hop times out after it
rcode, text = kamcmd(kamcmd_socks[0], "cfg.set", "tm", "fr_timer", "1000")
check(rcode == 0 and text == "", "cfg.set tm fr_timer: %r" % text)
t0 = time.time()
sip.sendto(("INVITE sip:bob@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKinv1\r\n"
            "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: inv1@t\r\nCSeq: 1 INVITE\r\n"
            "Contact: <sip:t@127.0.0.1:%d>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (port, me, me)).encode(),
           ("127.0.0.1", port))
sip.settimeout(10)
final = b""
while not final.startswith(b"SIP/2.0 4"):
    final = sip.recv(4096)
took = time.time() - t0
check(final.startswith(b"SIP/2.0 408") and took < 4, "408 after the new fr_timer: %r after %.1fs" % (final[:30], took))
# Kamailio's tcp: and dns: statistics: the HTTP connections above were
# accepted on the TCP listener; a next hop no nameserver resolves fails
sip.sendto(("OPTIONS sip:dnsfail@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKdns1\r\n"
            "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: dns1@t\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (port, me)).encode(), ("127.0.0.1", port))
final = b""
while not final[:9] in (b"SIP/2.0 4", b"SIP/2.0 5"):
    final = sip.recv(4096)[:9]
_, text = kamcmd(kamcmd_socks[0], "stats.get_statistics", "tcp:", "dns:")
st = dict(l.strip().split(" = ") for l in text.splitlines() if " = " in l)
check(int(st.get("tcp:passive_open", 0)) >= 1 and int(st["tcp:established"]) >= int(st["tcp:passive_open"]),
      "tcp: statistics: %r" % st)
check(int(st.get("dns:failed_dns_request", 0)) >= 1, "dns: statistics: %r" % st)
print("transports: ok")
PY

echo "== GET /metrics, read by Prometheus' text parser"
PYTHONPATH="$ROOT/test" /usr/bin/python3 - "$PORT" <<'PY' || fail "metrics"
import sys
from prometheus_client.parser import text_string_to_metric_families
import rpc_clients as rc
code, hdrs, body = rc.http(int(sys.argv[1]), "GET", "/metrics")
assert code == 200 and hdrs.get("Content-Type") == "text/plain; version=0.0.4", (code, hdrs)
# untyped lines (Kamailio's have no TYPE) may come as a family each:
# samples gathered by name
fams = {}
for f in text_string_to_metric_families(body.decode()):
    fams.setdefault(f.name, []).extend(f.samples)
for want in ("kamailio_core_rcv_requests", "kamailio_core_rcv_requests_register", "kamailio_sl_200_replies",
             "kamailio_tmx_UAS_transactions", "kamailio_usrloc_registered_users", "kamailio_shmem_used_size",
             "kamailio_script_hits", "kamailio_shm_module_bytes", "kamailio_process_cpu_seconds"):
    assert want in fams, "%s missing from %s" % (want, sorted(fams)[:20])
assert fams["kamailio_core_rcv_requests_register"][0].value >= 1
mods = {s.labels["module"] for s in fams["kamailio_shm_module_bytes"]}
assert {"core", "tm", "usrloc"} <= mods, mods
procs = {s.labels["desc"] for s in fams["kamailio_process_cpu_seconds"]}
assert "ctl handler" in procs and "XHTTP" in procs, procs
print("metrics: %d families" % len(fams))
PY

echo "== a flood of RPC requests while sipp sends SIP"
ps_before=$(kamcmd -s "unix:$WORK/run/sipr_ctl" core.psx | grep -c PID)
dgram_procs=$(kamcmd -s "unix:$WORK/run/sipr_ctl" core.psx | grep -c "DSC: JSONRPCS DATAGRAM")
[ "$dgram_procs" = 2 ] || fail "dgram_workers 2: $dgram_procs processes serve the datagram socket"
PYTHONPATH="$ROOT/test" timeout 60 python3 - "$WORK" "$PORT" "$CTL_TCP" <<'PY' > "$WORK/flood.out" 2>&1 &
import os, sys, threading, time
import rpc_clients as rc
work, port, ctl_tcp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
end = time.time() + 6
counts = [0, 0, 0]
def loop(i, call):
    while time.time() < end:
        try:
            call()
            counts[i] += 1
        except Exception:
            pass
threads = [threading.Thread(target=loop, args=(0, lambda: rc.binrpc(("tcp", "127.0.0.1", ctl_tcp), "stats.get_statistics", "all")))
           for _ in range(3)]
threads += [threading.Thread(target=loop, args=(1, lambda: rc.json_http(port, "ul.dump"))) for _ in range(3)]
threads += [threading.Thread(target=loop, args=(2, lambda: rc.json_dgram(os.path.join(work, "run", "sipr_rpc.sock"), "core.psx")))]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("flood: binrpc %d, http %d, dgram %d" % tuple(counts))
PY
FLOOD=$!
PIDS+=("$FLOOD")
timeout 60 sipp -sf "$ROOT/test/scenarios/options_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 4)) \
    -m 2000 -r 400 -nostdin -timeout 30 -trace_stat -stf "$WORK/sipp.csv" >"$WORK/sipp.out" 2>&1 ||
    fail "sipp during the RPC flood exited with $? ($(tail -3 "$WORK/sipp.out"))"
wait "$FLOOD" || fail "the flood client failed: $(cat "$WORK/flood.out")"
cat "$WORK/flood.out"
sipp_counts "$WORK/sipp.out"
[ "$ok" = 2000 ] && [ "$bad" = 0 ] || fail "SIP during the RPC flood: $ok ok, $bad failed"
grep -q "flood: binrpc [1-9]" "$WORK/flood.out" || fail "the flood did not run: $(cat "$WORK/flood.out")"

echo "== user metrics: every worker adds to the same series; labels a scraper reads back"
kamcmd -s "unix:$WORK/run/sipr_ctl" xhttp_prom.counter_inc sip_requests 2 'x"y' 'back\slash' >/dev/null ||
    fail "xhttp_prom.counter_inc"
for v in 0.5 5 50; do
    kamcmd -s "unix:$WORK/run/sipr_ctl" xhttp_prom.histogram_observe rpc_seen "$v" kamcmd >/dev/null ||
        fail "xhttp_prom.histogram_observe $v"
done
PYTHONPATH="$ROOT/test" /usr/bin/python3 - "$PORT" <<'PY' || fail "user metrics"
import sys
from prometheus_client.parser import text_string_to_metric_families
import rpc_clients as rc
_, _, body = rc.http(int(sys.argv[1]), "GET", "/metrics")
samples = {}
for f in text_string_to_metric_families(body.decode()):
    for x in f.samples:
        samples[(x.name, tuple(sorted(x.labels.items())))] = x.value
options = samples[("kamailio_core_rcv_requests_options", ())]
mine = samples[("kamailio_sip_requests", (("kind", "all"), ("method", "OPTIONS")))]
assert mine == options and options >= 2000, (mine, options)
assert samples[("kamailio_sip_requests", (("kind", "back\\slash"), ("method", 'x"y')))] == 2
assert samples[("kamailio_rpc_seen_bucket", (("le", "1.000000"), ("who", "kamcmd")))] == 1
assert samples[("kamailio_rpc_seen_bucket", (("le", "10.000000"), ("who", "kamcmd")))] == 2
assert samples[("kamailio_rpc_seen_bucket", (("le", "+Inf"), ("who", "kamcmd")))] == 3
assert samples[("kamailio_rpc_seen_sum", (("who", "kamcmd"),))] == 55.5
assert samples[("kamailio_rpc_seen_count", (("who", "kamcmd"),))] == 3
print("user metrics: %d OPTIONS counted by the script in every worker, as the core counted them" % mine)
PY
kamcmd -s "unix:$WORK/run/sipr_ctl" xhttp_prom.metric_list_print | grep -q '^kamailio_sip_requests{method="OPTIONS", kind="all"} [0-9]* [0-9]*$' ||
    fail "xhttp_prom.metric_list_print: $(kamcmd -s "unix:$WORK/run/sipr_ctl" xhttp_prom.metric_list_print | head -3)"

echo "== fuzz replay of the transports"
PYTHONPATH="$ROOT/test" timeout 120 python3 "$ROOT/test/rpc_fuzz.py" "$WORK" "$PORT" "$CTL_TCP" "$CTL_UDP" ||
    fail "fuzz replay"
ps_after=$(kamcmd -s "unix:$WORK/run/sipr_ctl" core.psx | grep -c PID)
[ "$ps_before" = "$ps_after" ] || fail "processes before/after: $ps_before/$ps_after"
grep -q "panicked\|hit a bug" "$WORK/sipr.log" && fail "a process panicked: $(grep -m3 "panicked\|hit a bug" "$WORK/sipr.log")"
for p in $(kids "$SIPR_PID"); do kill -0 "$p" || fail "process $p died"; done

echo "== core.kill stops the server"
kamcmd -s "tcp:127.0.0.1:$CTL_TCP" core.kill >/dev/null
for _ in $(seq 100); do kill -0 "$SIPR_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SIPR_PID" 2>/dev/null && fail "core.kill: the server still runs"
[ -e "$WORK/run/sipr_ctl" ] && fail "the ctl socket left behind"
echo "== ctl's mode, user and group"
getent group nogroup >/dev/null && id nobody >/dev/null 2>&1 || fail "the test needs user nobody and group nogroup"
sed -e 's|^modparam("ctl", "binrpc", "unix:sipr_ctl")|&\nmodparam("ctl", "mode", 0660)\nmodparam("ctl", "user", "nobody")\nmodparam("ctl", "group", "nogroup")|' \
    "$WORK/sipr.cfg" > "$WORK/owners.cfg"
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/owners.cfg" -m 64 >"$WORK/owners.log" 2>&1 &
OWN_PID=$!
PIDS+=("$OWN_PID")
for _ in $(seq 100); do [ -S "$WORK/run/sipr_ctl" ] && break; sleep 0.1; done
[ "$(stat -c '%a %U:%G' "$WORK/run/sipr_ctl")" = "660 nobody:nogroup" ] ||
    fail "ctl socket: $(stat -c '%a %U:%G' "$WORK/run/sipr_ctl"), want 660 nobody:nogroup"
kamcmd -s "unix:$WORK/run/sipr_ctl" core.version | grep -q sipr || fail "kamcmd on the 0660 socket"
kill -TERM "$OWN_PID"
wait "$OWN_PID" || true
echo "rpc_transports: ok"

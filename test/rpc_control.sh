#!/usr/bin/env bash
# The control processes end to end: jsonrpcs serves the RPC commands as
# JSON-RPC 2.0 over its unix datagram socket and its FIFO (reply_name), as
# Kamailio's: core.ps / core.psx list every process (the JSONRPCS ones
# too), core.version, system.listMethods, htable.* change the shm table
# the SIP workers read, an unknown method is 500 "Method Not Found", bad
# JSON gets no answer, core.tcp_list shows an open TCP connection; the
# socket and FIFO are removed at shutdown. Replies are laid out on lines
# (pretty_format, on by default as Kamailio's) or on one (pretty_format=0);
# fifo_user / fifo_group / dgram_user / dgram_group own the FIFO and the
# socket; transport=8 (TCP, not served) is refused with its position.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25360}
WORK=$(mktemp -d /tmp/sipr-rpc.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -20 "$WORK/sipr.log" >&2 || true; exit 1; }

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
listen=tcp:127.0.0.1:$PORT
children=2
debug=1
run_dir="$WORK/run"
loadmodule "sl"
loadmodule "htable"
loadmodule "jsonrpcs"
modparam("htable", "htable", "t=>size=4;")
modparam("jsonrpcs", "fifo_reply_dir", "$WORK/")
request_route {
    if (\$sht(t=>answer) != \$null) { sl_send_reply("\$sht(t=>answer)", "From htable"); exit; }
    sl_send_reply("200", "OK");
}
CFG
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
PID=$!
for _ in $(seq 50); do [ -S "$WORK/run/sipr_rpc.sock" ] && [ -p "$WORK/run/sipr_rpc.fifo" ] && break; sleep 0.1; done
[ -S "$WORK/run/sipr_rpc.sock" ] || fail "no datagram socket in run_dir"
[ -p "$WORK/run/sipr_rpc.fifo" ] || fail "no FIFO in run_dir"
sleep 0.5

python3 - "$WORK" "$PORT" <<'PY' || fail "RPC checks"
import json, os, socket, sys, time
work, port = sys.argv[1], int(sys.argv[2])
cli = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
cli.bind(os.path.join(work, "client.sock"))
cli.settimeout(3)

def rpc(method, *params, raw=None):
    req = raw if raw is not None else json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 9}).encode()
    cli.sendto(req, os.path.join(work, "run", "sipr_rpc.sock"))
    return json.loads(cli.recv(65536))

def rpc_text(method):
    cli.sendto(json.dumps({"jsonrpc": "2.0", "method": method, "id": 1}).encode(), os.path.join(work, "run", "sipr_rpc.sock"))
    return cli.recv(65536)

def check(cond, what):
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)

# pretty_format defaults to 1: one value per line, indented
check(rpc_text("core.psx").count(b"\n") > 5 and b"\n\t\t" in rpc_text("core.psx"), "pretty replies by default (tab-indented, as Kamailio)")
ps = rpc("core.ps")["result"]
descs = ps[1::2]
check(all(isinstance(p, int) for p in ps[0::2]), "core.ps: pid, description pairs")
check("main process - attendant" in descs, "core.ps lists the main process")
check(any(d.startswith("udp receiver child=0 sock=127.0.0.1:%d" % port) for d in descs), "core.ps lists the UDP workers")
check(any(d.startswith("JSONRPCS FIFO") for d in descs) and any(d.startswith("JSONRPCS DATAGRAM") for d in descs),
      "core.ps lists the control processes: %r" % descs)
psx = rpc("core.psx")["result"]
check(psx[0]["IDX"] == 0 and "PID" in psx[0] and "DSC" in psx[0], "core.psx: IDX/PID/DSC")
check(rpc("core.version")["result"].startswith("sipr"), "core.version")
methods = rpc("system.listMethods")["result"]
check("htable.sets" in methods and "core.ps" in methods, "system.listMethods")
err = rpc("no.such")
check(err.get("error") == {"code": 500, "message": "Method Not Found"} and err.get("id") == 9, "unknown method: %r" % err)

# htable through RPC changes what the workers answer
check("error" not in rpc("htable.seti", "t", "answer", 486), "htable.seti")
check(rpc("htable.get", "t", "answer")["result"]["item"]["value"] == 486, "htable.get")
sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sip.bind(("127.0.0.1", 0))
sip.settimeout(3)
sip.sendto(("OPTIONS sip:x@127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrpc\r\n"
            "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: rpc@t\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n" % (port, sip.getsockname()[1])).encode(),
           ("127.0.0.1", port))
check(sip.recv(4096).startswith(b"SIP/2.0 486 From htable"), "the worker read the value set over RPC")

# an open TCP connection is listed by core.tcp_list
tcp = socket.create_connection(("127.0.0.1", port), timeout=3)
time.sleep(0.3)
conns = rpc("core.tcp_list")["result"]
mine = "127.0.0.1:%d" % tcp.getsockname()[1]
check(any(c["src"] == mine and c["type"] == "TCP" for c in conns), "core.tcp_list: %r (want %s)" % (conns, mine))
tcp.close()

# bad JSON: no answer
cli.sendto(b"{bad", os.path.join(work, "run", "sipr_rpc.sock"))
cli.settimeout(0.5)
try:
    cli.recv(100)
    check(False, "an answer to bad JSON")
except socket.timeout:
    pass
cli.settimeout(3)

# the FIFO, with a reply FIFO named in the request (as kamctl does)
reply = os.path.join(work, "reply_fifo")
os.mkfifo(reply)
# the reply FIFO is opened for reading before the request goes (as kamctl)
fd = os.open(reply, os.O_RDONLY | os.O_NONBLOCK)
with open(os.path.join(work, "run", "sipr_rpc.fifo"), "w") as f:
    f.write(json.dumps({"jsonrpc": "2.0", "method": "core.psx", "id": 3, "reply_name": "reply_fifo"}) + "\n")
data, end = b"", time.time() + 3
while time.time() < end:
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        chunk = b""
    data += chunk
    try:
        r = json.loads(data)
        break
    except ValueError:
        time.sleep(0.05)
r = json.loads(data)
check(r["id"] == 3 and any(p["DSC"].startswith("JSONRPCS") for p in r["result"]), "FIFO answer: %r" % data[:200])
print("rpc: datagram and FIFO ok")
PY
kill -TERM "$PID"
wait "$PID" || true
PID=
[ -e "$WORK/run/sipr_rpc.sock" ] && fail "socket left behind"
[ -e "$WORK/run/sipr_rpc.fifo" ] && fail "FIFO left behind"

echo "== owners, pretty_format=0, transport=8 refused"
id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null || fail "the test needs user nobody and group nogroup"
sed -e 's|^modparam("jsonrpcs", "fifo_reply_dir".*|&\nmodparam("jsonrpcs", "fifo_user", "nobody")\nmodparam("jsonrpcs", "fifo_group", "nogroup")\nmodparam("jsonrpcs", "dgram_group", "nogroup")\nmodparam("jsonrpcs", "pretty_format", 0)|' \
    "$WORK/sipr.cfg" > "$WORK/owners.cfg"
"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/owners.cfg" -m 32 >"$WORK/sipr.log" 2>&1 &
PID=$!
for _ in $(seq 50); do [ -S "$WORK/run/sipr_rpc.sock" ] && [ -p "$WORK/run/sipr_rpc.fifo" ] && break; sleep 0.1; done
[ "$(stat -c %U:%G "$WORK/run/sipr_rpc.fifo")" = nobody:nogroup ] || fail "FIFO owner $(stat -c %U:%G "$WORK/run/sipr_rpc.fifo")"
[ "$(stat -c %G "$WORK/run/sipr_rpc.sock")" = nogroup ] || fail "socket group $(stat -c %G "$WORK/run/sipr_rpc.sock")"
python3 - "$WORK" <<'PY' || fail "pretty_format=0"
import json, os, socket, sys
work = sys.argv[1]
cli = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
cli.bind(os.path.join(work, "client2.sock"))
cli.settimeout(3)
cli.sendto(json.dumps({"jsonrpc": "2.0", "method": "core.psx", "id": 1}).encode(), os.path.join(work, "run", "sipr_rpc.sock"))
r = cli.recv(65536)
assert r.count(b"\n") == 1 and r.endswith(b"\n"), r[:200]
PY
kill -TERM "$PID"
wait "$PID" || true
PID=
printf 'loadmodule "jsonrpcs"\nmodparam("jsonrpcs", "transport", 8)\nrequest_route {\n}\n' > "$WORK/tcp.cfg"
if "$SIPR" -c -L "$MODDIR" -f "$WORK/tcp.cfg" >"$WORK/tcp.out" 2>&1; then fail "transport=8 accepted"; fi
grep -q "tcp.cfg:2:[0-9]*: .*not supported by sipr yet" "$WORK/tcp.out" || fail "transport=8: $(cat "$WORK/tcp.out")"
echo "rpc_control: ok"

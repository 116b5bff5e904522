#!/usr/bin/env bash
# usrloc on SQLite, end to end on loopback (issue 17): registrar + usrloc
# with db_mode 2 (write-back every timer_interval, 1 s here) on a database
# made by sipr's schema files (sqlite3, the real client).
#   - 10,000 AoRs registered (Expires 3600) and 10 with Expires 2;
#   - the short ones expire: gone from lookup and, after the next flush,
#     from the database;
#   - SIGTERM: every binding is in the database (10,000 rows, no duplicate);
#   - a restart loads them all back, each with its remaining expiry;
#   - 100 more registrations, a wait past timer_interval, kill -9 of the
#     main process: after a restart they are back (what the last flush
#     wrote; the window that can be lost is one timer_interval);
#   - db_mode 1 (write-through): a binding is in the database when the 200
#     comes back, and an expired one leaves it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PORT=${SIPR_TEST_PORT:-25390}
USERS=${SIPR_TEST_USERS:-10000}
e2e_workdir usrloc-db

command -v sqlite3 >/dev/null || fail "sqlite3 not installed (apt-get install sqlite3; make test does)"
[ -x "$SIPR" ] || fail "$SIPR not built"
mkdir -p "$WORK/run"
DB="$WORK/sipr.db"
for f in standard usrloc; do sqlite3 "$DB" < "$ROOT/scripts/db/sqlite/$f.sql"; done

cfg() { # db_mode
    cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=${SIPR_TEST_DEBUG:-2}
run_dir="$WORK/run"
loadmodule "sl"
loadmodule "pv"
loadmodule "textops"
loadmodule "db_sqlite"
loadmodule "usrloc"
loadmodule "registrar"
loadmodule "kex"
loadmodule "jsonrpcs"
modparam("jsonrpcs", "transport", 4)
modparam("usrloc", "db_url", "sqlite:///$DB")
modparam("usrloc", "db_mode", $1)
modparam("usrloc", "timer_interval", 1)
modparam("registrar", "min_expires", 0)
request_route {
    if (is_method("REGISTER")) { save("location"); exit; }
    sl_send_reply("404", "Not here");
}
CFG
}

start() {
    "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 64 >>"$WORK/sipr.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 100); do [ -S "$WORK/run/sipr_rpc.sock" ] && break; sleep 0.1; done
    [ -S "$WORK/run/sipr_rpc.sock" ] || fail "sipr did not start"
}

stop() { # signal
    kill "-$1" "$SPID"
    for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SPID" 2>/dev/null && fail "sipr did not stop on SIG$1"
    # a kill -9 of the main process leaves its children to notice it
    for _ in $(seq 50); do pgrep -f "$WORK/sipr.cfg" >/dev/null || break; sleep 0.1; done
    rm -f "$WORK/run/sipr_rpc.sock"
}

rpc() { rpc_call "$WORK/run/sipr_rpc.sock" "$@"; }
stat() { rpc stats.get_statistics "[\"$1\"]" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].split(" = ")[1])'; }

# register FROM COUNT EXPIRES: COUNT REGISTERs for users uFROM.., every 200 awaited
register() {
    python3 - "$PORT" "$1" "$2" "$3" <<'PY'
import socket, sys, time
port, first, count, expires = (int(a) for a in sys.argv[1:5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
s.settimeout(0.5)
pending = {}
def send(i):
    u = "u%d" % i
    m = ("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s-%d;rport\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:%s@example.com>;tag=t%d\r\nTo: <sip:%s@example.com>\r\n"
         "Call-ID: reg-%s@test\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@127.0.0.1:%d>\r\nExpires: %d\r\n"
         "Content-Length: 0\r\n\r\n" % (me, u, expires, u, i, u, u, 10 + expires, u, 6000 + i % 1000, expires))
    s.sendto(m.encode(), ("127.0.0.1", port))
    pending[u] = time.time()
ids = list(range(first, first + count))
deadline = time.time() + 60
sent = 0
while (sent < len(ids) or pending) and time.time() < deadline:
    while sent < len(ids) and len(pending) < 200:
        send(ids[sent]); sent += 1
    try:
        data = s.recv(65535).decode(errors="replace")
    except socket.timeout:
        for u, t in list(pending.items()):
            if time.time() - t > 0.5:
                send(int(u[1:]))
        continue
    if not data.startswith("SIP/2.0 200"):
        sys.exit("unexpected reply: " + data.split("\r\n")[0])
    to = [l for l in data.split("\r\n") if l.lower().startswith("to:")][0]
    pending.pop(to.split("sip:")[1].split("@")[0], None)
if pending or sent < len(ids):
    sys.exit("%d registrations unanswered" % (len(pending) + len(ids) - sent))
PY
}

rows() { sqlite3 "$DB" "SELECT count(*) FROM location WHERE $1"; }

echo "== db_mode 2: $USERS AoRs and 10 short-lived ones"
cfg 2
start
register 0 "$USERS" 3600 || fail "registering $USERS users"
register 100000 10 2 || fail "registering the short-lived users"
[ "$(stat location_users)" = "$((USERS + 10))" ] || fail "location_users: $(stat location_users)"
sleep 4
[ "$(stat location_users)" = "$USERS" ] || fail "after expiry location_users is $(stat location_users)"
rpc ul.lookup '["location", "u100005"]' >/dev/null 2>&1 && fail "an expired contact is still found"
[ "$(rows "username LIKE 'u1000%' AND length(username) = 7")" = "0" ] || fail "expired contacts left in the database"
echo "== SIGTERM: every binding written"
stop TERM
[ "$(rows 1)" = "$USERS" ] || fail "$(rows 1) rows in the database, $USERS expected"
[ "$(sqlite3 "$DB" 'SELECT count(DISTINCT username) FROM location')" = "$USERS" ] || fail "duplicate rows"
echo "== restart: all loaded back with their remaining expiry"
start
[ "$(stat location_users)" = "$USERS" ] || fail "after restart location_users is $(stat location_users)"
left=$(rpc ul.lookup '["location", "u1999"]' | python3 -c 'import json,sys; print(json.load(sys.stdin)["Contacts"][0]["Contact"]["Expires"])')
[ "$left" -gt 3500 ] && [ "$left" -le 3600 ] || fail "u1999 has $left s left after the restart"
echo "== kill -9 after a flush: nothing the flush wrote is lost"
register "$USERS" 100 3600 || fail "registering 100 more"
sleep 2.5
stop KILL
start
[ "$(stat location_users)" = "$((USERS + 100))" ] || fail "after kill -9 location_users is $(stat location_users)"
[ "$(rows 1)" = "$((USERS + 100))" ] || fail "$(rows 1) rows after kill -9"
stop TERM

echo "== db_mode 1: written through, expired rows deleted"
cfg 1
start
register 200000 1 3600 || fail "db_mode 1 registration"
[ "$(rows "username = 'u200000'")" = "1" ] || fail "db_mode 1: the binding is not in the database after the 200"
register 200001 1 2 || fail "db_mode 1 short registration"
[ "$(rows "username = 'u200001'")" = "1" ] || fail "db_mode 1: the short binding is not in the database"
sleep 4
[ "$(rows "username = 'u200001'")" = "0" ] || fail "db_mode 1: the expired binding is still in the database"
stop TERM
echo "usrloc_db: ok"

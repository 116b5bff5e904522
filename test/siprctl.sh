#!/usr/bin/env bash
# siprctl end to end, on SQLite and on a PostgreSQL the test starts: db
# create (twice: idempotent) and show-version; add two subscribers; sipp
# registers them with digest authentication against a sipr using that
# database; ul show lists them, ul rm removes one and a lookup of it then
# fails; stats shows the counters moving; passwd changes a password and
# the old one is refused; rm removes a subscriber, who can no longer
# register. Then the runtime commands (ps, uptime, srv, debug, htable, tm
# stats, shm --by-module, rpc), the errors that say what to do (no
# server, no database, a bad argument), --json, a database made by
# Kamailio's kamdbctl-style schema files read by siprctl, start/stop by
# pidfile, and `monitor` under tmux showing live figures while sipp runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
BIN=$(dirname "$SIPR")
SIPRCTL=$BIN/siprctl
MODDIR=$BIN
PORT=${SIPR_TEST_PORT:-25390}
PG_PORT=$((PORT + 5))
e2e_workdir siprctl
command -v sipp >/dev/null || fail "sipp not installed (make test installs sip-tester)"
command -v tmux >/dev/null || fail "tmux not installed (make test installs it)"
[ -x "$SIPRCTL" ] || fail "$SIPRCTL not built (cargo build --workspace)"
SCEN=$ROOT/test/scenarios

# siprctl ARGS...: with this run's settings file
cat > "$WORK/siprctlrc" <<RC
# kamctlrc-style settings
SIP_DOMAIN=example.com
RUN_DIR=$WORK/run
SIPR_BIN=$SIPR
SIPR_CFG=$WORK/sipr.cfg
SIPR_ARGS="-L $MODDIR -m 64"
PID_FILE=$WORK/run/sipr.pid
RC
ctl() { "$SIPRCTL" --config "$WORK/siprctlrc" "$@"; }

# server URL: a sipr with auth_db + usrloc + registrar on that database
write_cfg() {
    cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=2
log_stderror=yes
run_dir="$WORK/run"
loadmodule "sl"
loadmodule "pv"
loadmodule "xlog"
loadmodule "kex"
loadmodule "tm"
loadmodule "tmx"
loadmodule "textops"
loadmodule "$2"
loadmodule "usrloc"
loadmodule "registrar"
loadmodule "auth"
loadmodule "auth_db"
loadmodule "htable"
loadmodule "cfg_rpc"
loadmodule "jsonrpcs"
loadmodule "ctl"
modparam("jsonrpcs", "transport", 4)
modparam("usrloc", "db_url", "$1")
modparam("usrloc", "db_mode", 1)
modparam("auth_db", "db_url", "$1")
modparam("auth_db", "calculate_ha1", 0)
modparam("htable", "htable", "t=>size=4;")
request_route {
    if (is_method("REGISTER")) {
        if (!www_authorize("example.com", "subscriber")) {
            www_challenge("example.com", "0");
            exit;
        }
        save("location");
        exit;
    }
    if (is_method("MESSAGE")) {
        if (lookup("location")) { sl_send_reply("200", "found \$ru"); } else { sl_send_reply("404", "Not Found"); }
        exit;
    }
    sl_send_reply("200", "OK");
}
CFG
}

# register USER PASSWORD: sipp's digest REGISTER, one call; its exit code
register() {
    timeout 30 sipp -sf "$SCEN/register_auth_user_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 3)) \
        -s "$1" -au "$1" -ap "$2" -m 1 -nostdin -timeout 10 -timeout_error -recv_timeout 3000 \
        >"$WORK/sipp-reg.out" 2>&1
}

# lookup USER: the status of a MESSAGE to USER@example.com (lookup("location"))
lookup() {
    python3 - "$PORT" "$1" <<'PY'
import socket, sys
port, user = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(3)
me = s.getsockname()[1]
s.sendto((f"MESSAGE sip:{user}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKlk{user}\r\n"
          f"From: <sip:t@example.com>;tag=1\r\nTo: <sip:{user}@example.com>\r\nCall-ID: lk-{user}@t\r\nCSeq: 1 MESSAGE\r\n"
          "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
print(s.recv(4096).split(b"\r\n")[0].split(b" ")[1].decode())
PY
}

stat_value() { ctl --json stats core | python3 -c "import json,sys; print(json.load(sys.stdin).get('core:$1', 0))"; }

scenario() {
    local url=$1 dbmod=$2 name=$3
    echo "== $name: db create (twice), show-version"
    ctl --db "$url" db create >"$WORK/create1.out" || fail "$name: db create: $(cat "$WORK/create1.out")"
    grep -q "subscriber.*created" "$WORK/create1.out" || fail "$name: db create made no subscriber: $(cat "$WORK/create1.out")"
    ctl --db "$url" db create >"$WORK/create2.out" || fail "$name: db create again"
    grep -q "subscriber.*up to date" "$WORK/create2.out" && ! grep -q created "$WORK/create2.out" ||
        fail "$name: db create is not idempotent: $(cat "$WORK/create2.out")"
    ctl --db "$url" db migrate >/dev/null || fail "$name: db migrate"
    ctl --db "$url" db show-version | grep -Eq "^subscriber +7$" || fail "$name: show-version: $(ctl --db "$url" db show-version)"
    [ "$(ctl --db "$url" --json db show-version | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 10 ] ||
        fail "$name: show-version --json"

    echo "== $name: add two subscribers"
    ctl --db "$url" add alice pw-alice >/dev/null || fail "$name: add alice"
    ctl --db "$url" add bob@example.com pw-bob >/dev/null || fail "$name: add bob"
    if ctl --db "$url" add alice pw-again 2>"$WORK/err"; then fail "$name: a second add of alice"; fi
    grep -q "exists already" "$WORK/err" || fail "$name: duplicate add: $(cat "$WORK/err")"
    ctl --db "$url" show | grep -q "alice.*example.com" || fail "$name: show: $(ctl --db "$url" show)"
    ha1=$(ctl --db "$url" --json show alice | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["ha1"], r["password"] or "-")')
    want=$(printf 'alice:example.com:pw-alice' | md5sum | cut -d' ' -f1)
    [ "$ha1" = "$want -" ] || fail "$name: ha1 / plain password: $ha1 (want $want, no plain text)"

    echo "== $name: sipr on that database; sipp registers both with digest"
    write_cfg "$url" "$dbmod"
    ctl start >"$WORK/start.out" 2>&1 || fail "$name: siprctl start: $(cat "$WORK/start.out")"
    SIPR_PID=$(cat "$WORK/run/sipr.pid")
    PIDS+=("$SIPR_PID")
    for _ in $(seq 50); do [ -S "$WORK/run/sipr_rpc.sock" ] && break; sleep 0.1; done
    before=$(stat_value rcv_requests_register)
    register alice pw-alice || fail "$name: sipp REGISTER alice: $(tail -5 "$WORK/sipp-reg.out")"
    register bob pw-bob || fail "$name: sipp REGISTER bob"
    after=$(stat_value rcv_requests_register)
    [ "$after" -ge $((before + 4)) ] || fail "$name: stats: rcv_requests_register $before -> $after"

    echo "== $name: ul show, ul rm, lookup"
    ctl ul show >"$WORK/ul.out" || fail "$name: ul show"
    grep -q "AoR: alice" "$WORK/ul.out" && grep -q "AoR: bob" "$WORK/ul.out" || fail "$name: ul show: $(cat "$WORK/ul.out")"
    ctl ul show alice | grep -q "Address: sip:alice@127.0.0.1" || fail "$name: ul show alice"
    [ "$(ctl online | tr '\n' ' ')" = "alice bob " ] || fail "$name: online: $(ctl online)"
    [ "$(lookup alice)" = 200 ] || fail "$name: alice is not found before ul rm"
    ctl ul rm alice@example.com >/dev/null || fail "$name: ul rm"
    [ "$(lookup alice)" = 404 ] || fail "$name: alice is still found after ul rm"
    [ "$(lookup bob)" = 200 ] || fail "$name: bob is lost"

    echo "== $name: passwd; the old password is refused"
    ctl --db "$url" passwd alice pw-new >/dev/null || fail "$name: passwd"
    if register alice pw-alice; then fail "$name: the old password still registers"; fi
    register alice pw-new || fail "$name: the new password does not register"

    echo "== $name: rm"
    ctl --db "$url" rm bob >/dev/null || fail "$name: rm bob"
    if ctl --db "$url" show bob 2>/dev/null; then fail "$name: bob still shown"; fi
    if register bob pw-bob; then fail "$name: a removed subscriber registers"; fi

    ctl stop >/dev/null || fail "$name: siprctl stop"
    kill -0 "$SIPR_PID" 2>/dev/null && fail "$name: the server still runs after stop"
    true
}

scenario "sqlite:///$WORK/sipr.db" db_sqlite SQLite
[ -z "$(sqlite3 "$WORK/sipr.db" "SELECT password FROM subscriber WHERE username='alice'")" ] || fail "a plain password stored"

echo "== PostgreSQL (started by the test on 127.0.0.1:$PG_PORT)"
pg_start "$WORK/pg" "$PG_PORT"
scenario "postgres://postgres:pgadmin@127.0.0.1:$PG_PORT/siprctl" db_postgres PostgreSQL
pg_psql -d siprctl -Atc "SELECT count(*) FROM version" | grep -q '^1[0-9]$' || fail "PostgreSQL version rows"

echo "== the other commands, errors that say what to do, --json"
write_cfg "sqlite:///$WORK/sipr.db" db_sqlite
sed -i 's|^loadmodule "ctl"|loadmodule "ctl"\nloadmodule "xhttp"\nlisten=tcp:127.0.0.1:'"$PORT"'|' "$WORK/sipr.cfg"
ctl start >/dev/null || fail "start for the runtime commands"
PIDS+=("$(cat "$WORK/run/sipr.pid")")
for _ in $(seq 50); do [ -S "$WORK/run/sipr_rpc.sock" ] && break; sleep 0.1; done
ctl ps | grep -q "JSONRPCS DATAGRAM" || fail "ps: $(ctl ps)"
ctl uptime | grep -q "^uptime: " || fail "uptime"
ctl version | grep -q "^sipr" || fail "version"
ctl srv modules | grep -qx "registrar" || fail "srv modules"
ctl srv sockets | grep -q "port: $PORT" || fail "srv sockets: $(ctl srv sockets)"
ctl srv rpclist | grep -qx "ul.dump" || fail "srv rpclist"
[ "$(ctl debug)" = 2 ] || fail "debug: $(ctl debug)"
ctl debug 3 >/dev/null && [ "$(ctl debug)" = 3 ] || fail "debug 3"
ctl htable set t k 42 >/dev/null && ctl --json htable get t k | grep -q '"value": 42' || fail "htable set/get"
ctl htable dump t | grep -q "name: k" || fail "htable dump"
ctl htable rm t k >/dev/null && ! ctl htable get t k 2>/dev/null || fail "htable rm"
ctl tm stats | grep -q "^current: " || fail "tm stats"
ctl shm | grep -q "^real_used: " || fail "shm"
ctl shm --by-module | grep -Eq "^usrloc +[0-9]+" || fail "shm --by-module: $(ctl shm --by-module)"
[ "$(ctl rpc core.echo a 1 s:2 | tr '\n' ' ')" = "a 1 2 " ] || fail "rpc core.echo: $(ctl rpc core.echo a 1 s:2)"
ctl --json stats | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["core:rcv_requests"] >= 0' || fail "stats --json"
ctl --rpc "unix:$WORK/run/sipr_ctl" uptime | grep -q "^uptime: " || fail "--rpc unix: (binrpc)"
ctl --rpc "http://127.0.0.1:$PORT/RPC" version 2>/dev/null || true
ctl ul add carol@example.com sip:carol@127.0.0.1:5999 600 >/dev/null || fail "ul add"
ctl ul show carol | grep -q "sip:carol@127.0.0.1:5999" || fail "ul add: not shown"
ctl domain add example.com >/dev/null && ctl domain show | grep -q "example.com" || fail "domain add/show"
ctl domain rm example.com >/dev/null || fail "domain rm"
ctl address add 1 10.0.0.0 8 5060 gw >/dev/null && ctl address show | grep -q "10.0.0.0" || fail "address add/show"
ctl address rm 1 10.0.0.0 >/dev/null || fail "address rm"
ctl dispatcher add 1 sip:127.0.0.1:5070 >/dev/null && ctl dispatcher show | grep -q "sip:127.0.0.1:5070" || fail "dispatcher add/show"
if ctl address reload 2>"$WORK/err"; then fail "address reload without permissions loaded"; fi
grep -q "permissions.addressReload" "$WORK/err" || fail "address reload error: $(cat "$WORK/err")"
if ctl address add 1 not-an-ip 2>"$WORK/err"; then fail "a bad IP accepted"; fi
grep -q "not an IP address" "$WORK/err" || fail "bad IP: $(cat "$WORK/err")"
set +e
ctl add 2>/dev/null; [ $? = 2 ] || fail "a missing argument: exit $?"
ctl --db "sqlite:///$WORK/none.db" show 2>"$WORK/err"; rc=$?
set -e
[ $rc = 1 ] && grep -q "siprctl db create" "$WORK/err" || fail "no database: $rc $(cat "$WORK/err")"
"$SIPRCTL" --help | grep -q "monitor" || fail "--help"
"$SIPRCTL" ul --help | grep -q "show" || fail "ul --help"

old_pid=$(cat "$WORK/run/sipr.pid")
ctl restart >/dev/null || fail "restart"
new_pid=$(cat "$WORK/run/sipr.pid")
PIDS+=("$new_pid")
[ "$new_pid" != "$old_pid" ] && ! kill -0 "$old_pid" 2>/dev/null || fail "restart: pid $old_pid -> $new_pid"
for _ in $(seq 50); do ctl uptime >/dev/null 2>&1 && break; sleep 0.1; done
ctl uptime | grep -q "^uptime: " || fail "RPC after restart"
if ctl start 2>"$WORK/err"; then fail "a second start"; fi
grep -q "runs already (pid $new_pid" "$WORK/err" || fail "second start: $(cat "$WORK/err")"

echo "== monitor under tmux, while sipp sends OPTIONS"
tmux -L "sipr-test-$$" new-session -d -s mon -x 120 -y 40 "$SIPRCTL --config $WORK/siprctlrc monitor --count 30"
MON_PID=$(tmux -L "sipr-test-$$" list-panes -t mon -F '#{pane_pid}')
PIDS+=("$MON_PID")
timeout 30 sipp -sf "$SCEN/options_uac.xml" "127.0.0.1:$PORT" -i 127.0.0.1 -p $((PORT + 4)) -m 1500 -r 300 \
    -nostdin -timeout 20 >"$WORK/sipp-mon.out" 2>&1 &
SIPP=$!
PIDS+=("$SIPP")
sleep 3.5
tmux -L "sipr-test-$$" capture-pane -p -t mon > "$WORK/screen.txt"
wait "$SIPP" || fail "sipp during monitor"
tmux -L "sipr-test-$$" kill-server 2>/dev/null || true
grep -q "sipr monitor   up " "$WORK/screen.txt" || fail "monitor screen: $(cat "$WORK/screen.txt")"
grep -Eq "^requests +[0-9]+ total +[1-9][0-9]*/s" "$WORK/screen.txt" || fail "monitor shows no live request rate: $(cat "$WORK/screen.txt")"
grep -q "usrloc" "$WORK/screen.txt" && grep -q "process load" "$WORK/screen.txt" || fail "monitor: shm modules / process load"
grep -Eq "[0-9]+\.[0-9]%  udp receiver" "$WORK/screen.txt" || fail "monitor: per-process load: $(cat "$WORK/screen.txt")"
ctl stop >/dev/null || fail "stop"

echo "== a database made by Kamailio's own schema files, read and written by siprctl"
KSQL=/usr/share/kamailio/db_sqlite
[ -d "$KSQL" ] || fail "Kamailio's SQLite schema files are missing (kamailio-sqlite-modules)"
cat "$KSQL/standard-create.sql" "$KSQL/auth_db-create.sql" "$KSQL/usrloc-create.sql" "$KSQL/domain-create.sql" \
    "$KSQL/permissions-create.sql" "$KSQL/dispatcher-create.sql" "$KSQL/htable-create.sql" | sqlite3 "$WORK/kam.db"
ctl --db "sqlite:///$WORK/kam.db" db create | grep -q "subscriber.*up to date" || fail "siprctl on a Kamailio database: versions"
ctl --db "sqlite:///$WORK/kam.db" add dave pw-dave >/dev/null || fail "add on a Kamailio database"
[ "$(sqlite3 "$WORK/kam.db" "SELECT ha1 FROM subscriber WHERE username='dave'")" = "$(printf 'dave:example.com:pw-dave' | md5sum | cut -d' ' -f1)" ] ||
    fail "ha1 in Kamailio's table"
ctl --db "sqlite:///$WORK/kam.db" db drop >/dev/null || fail "db drop"
[ -z "$(sqlite3 "$WORK/kam.db" ".tables" | grep -w subscriber)" ] || fail "db drop left subscriber"
echo "siprctl: ok"

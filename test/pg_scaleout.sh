#!/usr/bin/env bash
# Two sipr boxes sharing one PostgreSQL (issue 17's scale-out), end to end
# on loopback: Debian's PostgreSQL started here on 127.0.0.1 (pg_start),
# the database made by sipr's PostgreSQL schema files through psql, and two
# sipr instances on two ports with auth_db + usrloc + registrar on it.
#   - db_mode 3: a user registered (with digest auth, subscriber in
#     PostgreSQL) through A is found by lookup() on B, and the reverse; an
#     unregistration through B is seen by A at once;
#   - PostgreSQL stopped under db_mode 3: a REGISTER gets a 500 (a clear
#     error, no crash); once it is back, the next one is saved (the lost
#     connection is reopened, with a log line);
#   - db_mode 2, on a database made by Kamailio's own PostgreSQL schema
#     files (kamailio-postgres-modules): each instance loads at start-up
#     what the other wrote; htable loads its table from it and writes it
#     back (htable.store).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
PGPORT=${SIPR_TEST_PG_PORT:-25432}
PORT_A=${SIPR_TEST_PORT:-25394}
PORT_B=$((PORT_A + 1))
e2e_workdir pg-scaleout
[ -x "$SIPR" ] || fail "$SIPR not built"
command -v psql >/dev/null || fail "psql not installed (apt-get install postgresql; make test does)"

pg_start "$WORK/pgdata" "$PGPORT"
pg_psql -c "CREATE ROLE sipr LOGIN PASSWORD 'siprrw'" -c "CREATE DATABASE sipr OWNER sipr"
for f in standard usrloc auth_db htable; do
    PGPASSWORD=siprrw psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U sipr sipr \
        -f "$ROOT/scripts/db/postgres/$f.sql" >/dev/null
done
KAM_SCHEMA=/usr/share/kamailio/postgres
[ -f "$KAM_SCHEMA/usrloc-create.sql" ] || fail "Kamailio's PostgreSQL schema files are missing (apt-get install kamailio-postgres-modules; make test does)"
pg_psql -c "CREATE DATABASE kam OWNER sipr"
for f in standard usrloc auth_db htable; do
    PGPASSWORD=siprrw psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U sipr kam -f "$KAM_SCHEMA/$f-create.sql" >/dev/null
done
DBNAME=sipr
sql() { PGPASSWORD=siprrw psql -X -qtA -h 127.0.0.1 -p "$PGPORT" -U sipr "$DBNAME" -c "$1"; }
for DBNAME in sipr kam; do
    for u in alice bob carol dave; do
        sql "INSERT INTO subscriber (username, domain, password) VALUES ('$u', 'example.com', 'pw-$u')"
    done
done
DBNAME=kam
sql "INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('gw', 0, 0, 'sip:127.0.0.1:5070')"
sql "INSERT INTO htable (key_name, key_type, value_type, key_value) VALUES ('limit', 0, 1, '30')"
DBNAME=sipr

cfg() { # NAME PORT DB_MODE [DATABASE]
    local url="postgres://sipr:siprrw@127.0.0.1:$PGPORT/${4:-sipr}"
    mkdir -p "$WORK/$1/run"
    cat > "$WORK/$1/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$2
children=2
debug=${SIPR_TEST_DEBUG:-2}
run_dir="$WORK/$1/run"
loadmodule "sl"
loadmodule "pv"
loadmodule "textops"
loadmodule "db_postgres"
loadmodule "usrloc"
loadmodule "registrar"
loadmodule "auth"
loadmodule "auth_db"
loadmodule "jsonrpcs"
loadmodule "htable"
modparam("jsonrpcs", "transport", 4)
modparam("htable", "db_url", "$url")
modparam("htable", "htable", "routes=>size=4;dbtable=htable;")
modparam("usrloc", "db_url", "$url")
modparam("usrloc", "db_mode", $3)
modparam("usrloc", "timer_interval", 1)
modparam("auth_db", "db_url", "$url")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
request_route {
    if (is_method("REGISTER")) {
        \$var(rc) = www_authorize("example.com", "subscriber");
        # -1: an error (the database cannot be read)
        if (\$var(rc) == -1) { sl_send_reply("500", "Server Internal Error"); exit; }
        if (\$var(rc) < 0) { www_challenge("example.com", "0"); exit; }
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    append_to_reply("X-Target: \$ru\r\n");
    sl_send_reply("302", "Found");
}
CFG
}

declare -A SPID
start() { # NAME
    "$SIPR" -DD -E -L "$MODDIR" -f "$WORK/$1/sipr.cfg" -m 64 >>"$WORK/$1/sipr.log" 2>&1 &
    SPID[$1]=$!
    PIDS+=("$!")
    for _ in $(seq 100); do [ -S "$WORK/$1/run/sipr_rpc.sock" ] && return 0; sleep 0.1; done
    cat "$WORK/$1/sipr.log" >&2
    fail "sipr $1 did not start"
}
stop() { # NAME
    kill -TERM "${SPID[$1]}"
    for _ in $(seq 100); do kill -0 "${SPID[$1]}" 2>/dev/null || break; sleep 0.1; done
    kill -0 "${SPID[$1]}" 2>/dev/null && fail "sipr $1 did not stop"
    rm -f "$WORK/$1/run/sipr_rpc.sock"
}
req() { python3 "$ROOT/test/sip_request.py" "$@"; }
status() { head -1 | cut -d' ' -f2; }
# register PORT USER EXPIRES: prints the final status code
register() { req "$1" REGISTER "$2" --contact "sip:$2@127.0.0.1:7001" --expires "$3" --password "pw-$2" | status; }
# target PORT USER: the Request-URI lookup() set, or the status when not found
target() {
    local r
    r=$(req "$1" INVITE "$2")
    case $(echo "$r" | status) in
        302) echo "$r" | sed -n 's/^X-Target: //p' | tr -d '\r' ;;
        *) echo "$r" | status ;;
    esac
}

echo "== db_mode 3: A and B share the location table"
cfg a "$PORT_A" 3
cfg b "$PORT_B" 3
start a
start b
[ "$(register "$PORT_A" alice 3600)" = 200 ] || fail "alice's REGISTER through A"
[ "$(req "$PORT_A" REGISTER alice --contact sip:x@127.0.0.1:1 --expires 60 --password wrong | status)" = 401 ] ||
    fail "a wrong password is not refused"
found=$(target "$PORT_B" alice)
case $found in sip:alice@127.0.0.1:7*) ;; *) fail "B's lookup of alice: '$found'" ;; esac
[ "$(register "$PORT_B" bob 3600)" = 200 ] || fail "bob's REGISTER through B"
case $(target "$PORT_A" bob) in sip:bob@127.0.0.1:7*) ;; *) fail "A does not find bob" ;; esac
[ "$(target "$PORT_A" carol)" = 404 ] || fail "an unregistered user is found"
[ "$(register "$PORT_B" alice 0)" = 200 ] || fail "alice's unregistration through B"
[ "$(target "$PORT_A" alice)" = 404 ] || fail "A still finds alice after B removed her"
[ "$(sql "SELECT count(*) FROM location WHERE username = 'bob'")" = 1 ] || fail "bob's row is not in PostgreSQL"
# gruu_check PORT_REGISTER PORT_LOOKUP USER: the temp-gruu A's 200 gives
# reaches the binding through B (found by its ruid)
gruu_check() {
    local r tgruu
    r=$(req "$1" REGISTER "$3" --contact "sip:$3@127.0.0.1:7002" --expires 3600 --password "pw-$3" \
        --instance "urn:uuid:00000000-0000-1000-8000-00000000000$2")
    tgruu=$(echo "$r" | sed -n 's/.*temp-gruu="\([^"]*\)".*/\1/p')
    [ -n "$tgruu" ] || fail "no temp-gruu in the 200: $r"
    echo "$r" | grep -q "pub-gruu=\"sip:$3@example.com;gr=urn:uuid:" || fail "no pub-gruu in the 200: $r"
    case $(req "$2" INVITE "$3" --ruri "$tgruu" | sed -n 's/^X-Target: //p' | tr -d '\r') in
        "sip:$3@127.0.0.1:7002") ;;
        *) fail "the temp-gruu $tgruu does not reach $3's binding through port $2" ;;
    esac
}
gruu_check "$PORT_A" "$PORT_B" carol

echo "== PostgreSQL down: an error, then a retry on a new connection"
pg_stop
code=$(register "$PORT_A" carol 3600 || true)
[ "$code" = 500 ] || fail "with PostgreSQL down a REGISTER got '$code', not a 500"
kill -0 "${SPID[a]}" || fail "A died with the database down"
pg_launch
ok=""
for _ in 1 2 3; do
    [ "$(register "$PORT_A" carol 3600)" = 200 ] && { ok=1; break; }
done
[ -n "$ok" ] || fail "no REGISTER saved after PostgreSQL came back"
case $(target "$PORT_B" carol) in sip:carol@127.0.0.1:7*) ;; *) fail "B does not find carol after the outage" ;; esac
grep -q "connection lost\|cannot open the database" "$WORK/a/sipr.log" || fail "no log line about the lost database"
stop a
stop b

echo "== db_mode 2 on Kamailio's schema: each loads at start-up what the other wrote"
DBNAME=kam
cfg a "$PORT_A" 2 kam
cfg b "$PORT_B" 2 kam
start a
rpc_call "$WORK/a/run/sipr_rpc.sock" htable.get '["routes", "gw"]' | grep -q '"value": "sip:127.0.0.1:5070"' ||
    fail "htable did not load gw from PostgreSQL: $(rpc_call "$WORK/a/run/sipr_rpc.sock" htable.get '["routes", "gw"]')"
rpc_call "$WORK/a/run/sipr_rpc.sock" htable.seti '["routes", "calls", 7]' >/dev/null
rpc_call "$WORK/a/run/sipr_rpc.sock" htable.store '["routes"]' >/dev/null
[ "$(sql "SELECT key_value FROM htable WHERE key_name = 'calls' AND value_type = 1")" = 7 ] || fail "htable.store did not write calls"
[ "$(sql "SELECT count(*) FROM htable")" = 3 ] || fail "htable.store left $(sql "SELECT count(*) FROM htable") rows, 3 expected"
[ "$(register "$PORT_A" dave 3600)" = 200 ] || fail "dave's REGISTER through A"
sleep 2.5 # A's write-back (timer_interval 1 s)
start b
case $(target "$PORT_B" dave) in sip:dave@127.0.0.1:7*) ;; *) fail "B did not load dave at start-up" ;; esac
[ "$(register "$PORT_B" bob 3600)" = 200 ] || fail "bob's REGISTER through B"
sleep 2.5
stop a
start a
case $(target "$PORT_A" bob) in sip:bob@127.0.0.1:7*) ;; *) fail "A did not load bob at start-up" ;; esac
case $(target "$PORT_A" dave) in sip:dave@127.0.0.1:7*) ;; *) fail "A lost dave over its restart" ;; esac
gruu_check "$PORT_A" "$PORT_A" alice
[ "$(sql "SELECT count(*) FROM location")" = 2 ] || fail "$(sql "SELECT count(*) FROM location") rows, 2 expected"
stop a
stop b

echo "== Kamailio's own usrloc loads what sipr wrote"
if command -v kamailio >/dev/null; then
    PORT_K=$((PORT_B + 1))
    mkdir -p "$WORK/k"
    cat > "$WORK/k/kamailio.cfg" <<CFG
listen=udp:127.0.0.1:$PORT_K
children=1
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "db_postgres.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_url", "postgres://sipr:siprrw@127.0.0.1:$PGPORT/kam")
modparam("usrloc", "db_mode", 2)
request_route {
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    append_to_reply("X-Target: \$ru\r\n");
    sl_send_reply("302", "Found");
}
CFG
    kamailio -DD -E -f "$WORK/k/kamailio.cfg" -L /usr/lib/x86_64-linux-gnu/kamailio/modules -Y "$WORK/k" \
        -w "$WORK/k" -m 32 -M 8 >"$WORK/k/log" 2>&1 &
    KPID=$!
    PIDS+=("$KPID")
    up=""
    for _ in $(seq 10); do
        kill -0 "$KPID" 2>/dev/null || break
        [ "$(target "$PORT_K" nobody 2>/dev/null)" = 404 ] && { up=1; break; }
    done
    [ -n "$up" ] || { tail "$WORK/k/log" >&2; fail "Kamailio did not start"; }
    case $(target "$PORT_K" dave) in sip:dave@127.0.0.1:7*) ;; *) tail "$WORK/k/log" >&2; fail "Kamailio did not load sipr's dave" ;; esac
    case $(target "$PORT_K" bob) in sip:bob@127.0.0.1:7*) ;; *) fail "Kamailio did not load sipr's bob" ;; esac
    kill -TERM "$KPID"
    for _ in $(seq 50); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
else
    fail "kamailio not installed (make test installs it)"
fi
pg_stop
echo "pg_scaleout: ok"

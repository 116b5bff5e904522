#!/usr/bin/env bash
# Registrar under load, end to end on loopback (issue 17): auth_db +
# registrar + usrloc on SQLite with 10,000 subscribers (sqlite3 fills the
# subscriber table made by sipr's schema files). Each of them registers
# with digest authentication (401, then the authenticated REGISTER) at
# 1,000 registrations/s, 0 failures (test/register_load.py: sipp 3.6
# cannot vary the digest username per call); then sipp INVITEs to those
# users are routed by lookup() through tm to the registered contact, a
# sipp UAS, 0 failures. usrloc's statistics count every user, and the shm
# pool grows by at most 0.5 KB per binding.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=test/common.bash
. "$ROOT/test/common.bash"
SIPR=${SIPR:-$ROOT/target/debug/sipr}
MODDIR=$(dirname "$SIPR")
SCEN=$ROOT/test/scenarios
PORT=${SIPR_TEST_PORT:-25420}
USERS=${SIPR_TEST_USERS:-10000}
RATE=${SIPR_TEST_RATE:-1000}
CALLS=${SIPR_TEST_CALLS:-2000}
e2e_workdir registrar-load

command -v sipp >/dev/null || fail "sipp not installed (apt-get install sip-tester; make test does)"
command -v sqlite3 >/dev/null || fail "sqlite3 not installed (make test installs it)"
[ -x "$SIPR" ] || fail "$SIPR not built"
mkdir -p "$WORK/run"
DB="$WORK/sipr.db"
UAS=$((PORT + 1))
for f in standard auth_db usrloc; do sqlite3 "$DB" < "$ROOT/scripts/db/sqlite/$f.sql"; done
# the subscribers (plain passwords, calculate_ha1) and sipp's injection
# files: user;password;contact port
python3 - "$WORK" "$USERS" "$UAS" <<'PY'
import sys
work, n, uas = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{work}/subscribers.sql", "w") as sql, open(f"{work}/users.csv", "w") as csv, \
        open(f"{work}/callees.csv", "w") as callees:
    sql.write("BEGIN;\n")
    csv.write("SEQUENTIAL\n")
    callees.write("SEQUENTIAL\n")
    for i in range(n):
        sql.write(f"INSERT INTO subscriber (username, domain, password) VALUES ('u{i}', 'example.com', 'pw{i}');\n")
        csv.write(f"u{i};pw{i};{uas}\n")
        callees.write(f"u{i}\n")
    sql.write("COMMIT;\n")
PY
sqlite3 "$DB" < "$WORK/subscribers.sql"

cat > "$WORK/sipr.cfg" <<CFG
listen=udp:127.0.0.1:$PORT
children=2
debug=1
run_dir="$WORK/run"
loadmodule "sl"
loadmodule "pv"
loadmodule "tm"
loadmodule "textops"
loadmodule "db_sqlite"
loadmodule "usrloc"
loadmodule "registrar"
loadmodule "auth"
loadmodule "auth_db"
loadmodule "kex"
loadmodule "jsonrpcs"
modparam("jsonrpcs", "transport", 4)
modparam("usrloc", "hash_size", 12)
modparam("auth_db", "db_url", "sqlite:///$DB")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
request_route {
    if (is_method("REGISTER")) {
        if (!www_authorize("example.com", "subscriber")) {
            www_challenge("example.com", "0");
            exit;
        }
        if (!save("location")) { sl_reply_error(); }
        exit;
    }
    # in-dialog: to the Request-URI (the callee's contact; no Record-Route here)
    if (is_method("ACK|BYE")) { t_relay(); exit; }
    if (is_method("INVITE")) {
        if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
        t_relay();
        exit;
    }
    sl_send_reply("405", "Method Not Allowed");
}
CFG

"$SIPR" -DD -E -L "$MODDIR" -f "$WORK/sipr.cfg" -m 128 >"$WORK/sipr.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 100); do [ -S "$WORK/run/sipr_rpc.sock" ] && break; sleep 0.1; done
[ -S "$WORK/run/sipr_rpc.sock" ] || fail "sipr did not start"

used() { rpc_call "$WORK/run/sipr_rpc.sock" core.shmmem | python3 -c 'import json,sys; print(json.load(sys.stdin)["used"])'; }
idle=$(used)
echo "== $USERS digest registrations at $RATE/s"
# sipp 3.6 (Debian bookworm) cannot take a per-call username in its
# [authentication] keyword (a field there is dropped), so the REGISTER
# phase is driven by a small digest client; the call phase is sipp's
python3 "$ROOT/test/register_load.py" "$PORT" "$WORK/users.csv" "$RATE" >"$WORK/reg.out" 2>&1 \
    || fail "registrations: $(tail -3 "$WORK/reg.out")"
cat "$WORK/reg.out"
users=$(rpc_call "$WORK/run/sipr_rpc.sock" stats.get_statistics '["location_users"]')
echo "usrloc: $users"
echo "$users" | grep -q "location_users = $USERS\"" || fail "location_users is not $USERS: $users"
# shm per binding: the pool's growth over the registrations (Kamailio
# ≈ 1.1 KB per contact; the target is 0.5 KB)
per=$(( ($(used) - idle) / USERS ))
echo "shm per registered contact: $per bytes"
[ "$per" -le 512 ] || fail "shm per contact is $per bytes, more than 0.5 KB"

echo "== $CALLS INVITEs to registered users, routed by lookup() to the UAS"
# no `timeout` wrapper: the cleanup must kill sipp itself (sipp -timeout bounds it)
sipp -sf "$SCEN/uas.xml" -i 127.0.0.1 -p "$UAS" -nostdin -timeout 100 >"$WORK/uas.out" 2>&1 &
PIDS+=("$!")
sleep 0.5
timeout 120 sipp -sf "$SCEN/invite_user_uac.xml" -inf "$WORK/callees.csv" "127.0.0.1:$PORT" -i 127.0.0.1 \
    -p $((PORT + 3)) -m "$CALLS" -r 200 -nostdin -timeout 100 >"$WORK/uac-inv.out" 2>&1 \
    || fail "sipp calls exited with $? ($(tail -3 "$WORK/uac-inv.out"))"
sipp_counts "$WORK/uac-inv.out"
echo "calls: successful=$ok failed=$bad"
[ "$ok" = "$CALLS" ] && [ "$bad" = "0" ] || fail "expected $CALLS calls, 0 failed"
kill -0 "$SPID" || fail "sipr died"
kill -TERM "$SPID"
wait "$SPID" || true
echo "registrar_load: ok"

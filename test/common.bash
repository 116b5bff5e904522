# shellcheck shell=bash
# Helpers the end-to-end tests source (not a test itself: `make test` runs
# test/*.sh only).

# sipp_counts FILE: sets `ok` and `bad` to the "Successful call" and
# "Failed call" totals of a sipp run's final statistics screen in FILE.
sipp_counts() {
    ok=$(grep -E "Successful call" "$1" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
    bad=$(grep -E "Failed call" "$1" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
}

# e2e_workdir NAME: a fresh $WORK directory, the $PIDS every started
# process is recorded in, and an exit trap that kills them by pid and
# removes $WORK (kept when KEEP is set, for debugging).
e2e_workdir() {
    WORK=$(mktemp -d "/tmp/sipr-$1.XXXXXX")
    PIDS=()
    trap e2e_cleanup EXIT
}

e2e_cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

# fail MESSAGE: says why, shows the server log's end, exits 1.
fail() {
    echo "FAIL: $*" >&2
    [ -f "$WORK/sipr.log" ] && tail -20 "$WORK/sipr.log" >&2
    exit 1
}

# kids PID: the children of a process.
kids() { pgrep -P "$1" || true; }

# rpc_call SOCKET METHOD [PARAMS_JSON]: one JSON-RPC request to jsonrpcs'
# datagram socket; prints the result as JSON, fails on an error reply.
rpc_call() {
    python3 - "$1" "$2" "${3:-[]}" <<'PY'
import json, os, socket, sys
path, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
me = "%s.client.%d" % (path, os.getpid())
if os.path.exists(me):
    os.unlink(me)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(me)
s.settimeout(5)
try:
    s.sendto(json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode(), path)
    r = json.loads(s.recv(1 << 20))
finally:
    os.unlink(me)
if "result" not in r:
    sys.exit("rpc %s: %s" % (method, r))
print(json.dumps(r["result"]))
PY
}

# pg_start DIR PORT: a PostgreSQL server of the test's own, as a user
# would run one: Debian's binaries, data in DIR, listening on
# 127.0.0.1:PORT only, SCRAM-SHA-256 passwords (superuser `postgres`,
# password `pgadmin`); its pid in PG_PID (recorded in PIDS). As root, the
# server runs as Debian's `postgres` user (setpriv execs it: the pid is
# the postmaster's). `pg_psql` then runs psql against it.
pg_start() {
    local dir=$1 port=$2 bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$bin" ] && [ -x "$bin/postgres" ] || fail "PostgreSQL not installed (apt-get install postgresql; make test does)"
    PG_PORT=$port
    local as=()
    mkdir -p "$dir"
    echo pgadmin > "$dir.pw"
    if [ "$(id -u)" = 0 ]; then
        as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
        # the server's user must reach its directory
        chmod o+x "$(dirname "$dir")"
        chown postgres "$dir" "$dir.pw"
    fi
    "${as[@]}" "$bin/initdb" -D "$dir" -U postgres -A scram-sha-256 --pwfile="$dir.pw" >"$dir.initdb.log" 2>&1 ||
        { cat "$dir.initdb.log" >&2; fail "initdb failed"; }
    PG_DIR=$dir
    pg_launch
}

# pg_launch: starts pg_start's server (again, after pg_stop) on its data
# directory and waits until it answers; its pid in PG_PID and PIDS.
pg_launch() {
    local bin as=()
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ "$(id -u)" = 0 ] && as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    "${as[@]}" "$bin/postgres" -D "$PG_DIR" -h 127.0.0.1 -p "$PG_PORT" -k "$PG_DIR" >>"$PG_DIR.log" 2>&1 &
    PG_PID=$!
    PIDS+=("$PG_PID")
    for _ in $(seq 100); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && return 0
        kill -0 "$PG_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$PG_DIR.log" >&2
    fail "PostgreSQL did not start on 127.0.0.1:$PG_PORT"
}

# pg_psql [ARGS]: psql as the superuser against pg_start's server.
pg_psql() { PGPASSWORD=pgadmin psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

# pg_stop: a fast shutdown of pg_start's server, awaited.
pg_stop() {
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$PG_PID" 2>/dev/null || true
}

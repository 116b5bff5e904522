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

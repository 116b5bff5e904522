#!/usr/bin/env bash
# Registrar benchmark against Kamailio (issue 17; `make bench` runs it),
# two workloads, the same cfg for both servers:
#   - plain: ../shared/bench's registrar workload (REGISTER of a new AoR
#     per call → save() into in-memory usrloc → 200);
#   - digest: scripts/bench/registrar_auth.cfg (www_authorize against a
#     SQLite subscriber table of 10,000 users made by Kamailio's schema
#     files, then save()), driven by scripts/bench/register_uac.xml
#     (REGISTER → 401 → REGISTER with credentials → 200) through a copy of
#     the harness whose register scenario it replaces.
# For each: REG_RUNS alternating runs of sipr, Kamailio (-x tlsf) and the
# floor (udp_floor answering the same datagrams: 200, or 401 then 200)
# at REG_RATE registrations/s; medians of CPU µs per registration, the
# ratio, the CPU above the floor and its ratio; the highest rate with 0
# failures (REG_MAX_RATES, 5 s steps); shm bytes per registered contact;
# user-space instructions per registration (callgrind, 1 worker).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench
SIPR=${SIPR:-$ROOT/target/release/sipr}
FLOOR=${FLOOR:-$ROOT/target/release/examples/udp_floor}
export FLOOR
REG_RATE=${REG_RATE:-2000}
REG_RUNS=${REG_RUNS:-3}
REG_MAX_RATES=${REG_MAX_RATES:-"2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 25000 30000 35000 40000"}
SUBSCRIBERS=${SUBSCRIBERS:-10000}
# shellcheck source=scripts/bench-lib.bash
. "$ROOT/scripts/bench-lib.bash"
if [ ! -x "$BENCH/run.sh" ]; then
    echo "SKIPPED: $BENCH/run.sh not found (../shared beside the repository)"
    exit 0
fi
for tool in kamailio sipp sipsak sqlite3; do
    command -v "$tool" >/dev/null || { echo "$tool not installed (make bench installs it)" >&2; exit 1; }
done
[ -x "$SIPR" ] || { echo "$SIPR not built (make bench builds it)" >&2; exit 1; }
KAM_SCHEMA=/usr/share/kamailio/db_sqlite
[ -f "$KAM_SCHEMA/auth_db-create.sql" ] || { echo "kamailio-sqlite-modules not installed" >&2; exit 1; }
WORK=$(mktemp -d /tmp/sipr-bench-reg.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.txt

# The digest workload's harness: a copy whose register scenario is ours.
cp -r "$BENCH" "$WORK/bench-auth"
cp "$ROOT/scripts/bench/register_uac.xml" "$WORK/bench-auth/scenarios/register_uac.xml"
DB=$WORK/subscriber.db
for f in standard auth_db; do sqlite3 "$DB" <"$KAM_SCHEMA/$f-create.sql"; done
{
    echo "BEGIN;"
    echo "INSERT INTO subscriber (username, domain, password) VALUES ('bench', 'example.com', 'benchpw');"
    for i in $(seq 0 $((SUBSCRIBERS - 2))); do
        echo "INSERT INTO subscriber (username, domain, password) VALUES ('u$i', 'example.com', 'pw$i');"
    done
    echo "COMMIT;"
} | sqlite3 "$DB"
sed "s|@DB@|$DB|" "$ROOT/scripts/bench/registrar_auth.cfg" >"$WORK/bench-auth/cfg/registrar_auth.cfg"

# run KIND WORKLOAD RATE CALLS [ENV...]: one run.sh summary line.
run() {
    local kind=$1 workload=$2 rate=$3 calls=$4
    shift 4
    case $workload in
        plain) env "$@" RESULTS_FILE="$RESULTS" "$BENCH/run.sh" "$kind" registrar "$rate" "$calls" 2>/dev/null | tail -1 ;;
        digest) env "$@" RESULTS_FILE="$RESULTS" CFG="$WORK/bench-auth/cfg/registrar_auth.cfg" \
            "$WORK/bench-auth/run.sh" "$kind" registrar "$rate" "$calls" 2>/dev/null | tail -1 ;;
    esac
}
# shellcheck disable=SC2016
floor_cmd() { case $1 in plain) echo '"$FLOOR" 127.0.0.1:$SERVER_PORT $CHILDREN' ;; digest) echo '"$FLOOR" 127.0.0.1:$SERVER_PORT $CHILDREN challenge' ;; esac; }

echo "| registrar workload | registrations/s | sipr µs/reg (median of $REG_RUNS) | Kamailio µs/reg | ratio | floor µs/reg | sipr above floor | Kamailio above floor | ratio above floor | sipr ok/fail | Kamailio ok/fail |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# reg_run KIND CALLS: one run of $workload at REG_RATE.
reg_run() {
    case $1 in
        sipr) run sipr "$workload" "$REG_RATE" "$2" SERVER_BIN="$SIPR" ;;
        kamailio) run kamailio "$workload" "$REG_RATE" "$2" SERVER_EXTRA_ARGS="-x tlsf" ;;
        floor) run floor "$workload" "$REG_RATE" "$2" SERVER_CMD="$(floor_cmd "$workload")" ;;
    esac
}
for workload in plain digest; do
    read -r sm km fm s_ok s_f k_ok k_f <<<"$(versus "$REG_RUNS" $((REG_RATE * 10)) reg_run)"
    sa=$(minus "$sm" "$fm"); ka=$(minus "$km" "$fm")
    echo "| $workload | $REG_RATE | $sm | $km | $(ratio "$sm" "$km") | $fm | $sa | $ka | $(ratio "$sa" "$ka") | $s_ok/$s_f | $k_ok/$k_f |"
done

# The highest rate with 0 failures: 5 s steps up to the first that fails.
declare -A best
sweep() { # workload kind env...
    local workload=$1 kind=$2 line calls
    shift 2
    best[$kind.$workload]=0
    for rate in $REG_MAX_RATES; do
        calls=$((rate * 5))
        for _ in 1 2; do
            line=$(run "$kind" "$workload" "$rate" "$calls" DURATION=5 "$@") || true
            case "$line" in workload=*) break ;; *) sleep 3 ;; esac
        done
        echo "| $workload | $kind | $rate | $(field "$line" ok)/$(field "$line" fail) | $(field "$line" retrans) | $(field "$line" achieved_cps) | $(field "$line" cpu_us_per_call) |"
        if [ "$(field "$line" ok)" = "$calls" ] && [ "$(field "$line" fail)" = 0 ]; then
            best[$kind.$workload]=$rate
        else
            break
        fi
    done
}
echo
echo "| registrar workload | server | registrations/s (5 s) | ok/fail | retransmissions | achieved/s | CPU µs/reg |"
echo "|---|---|---|---|---|---|---|"
for workload in plain digest; do
    sweep "$workload" sipr SERVER_BIN="$SIPR"
    sweep "$workload" kamailio SERVER_EXTRA_ARGS="-x tlsf"
done
echo
for workload in plain digest; do
    echo "highest 0-failure $workload registration rate: sipr ${best[sipr.$workload]}/s, Kamailio ${best[kamailio.$workload]}/s, ratio $(ratio "${best[sipr.$workload]}" "${best[kamailio.$workload]}")"
done

# Shared memory per registered contact (plain workload + jsonrpcs on a
# FIFO): core.shmmem's real_used and usrloc's contact count when the
# server answers, then 6 s into 12 s of 1,000 registrations/s.
cp "$BENCH/cfg/common.inc.cfg" "$WORK/"
sed 's|^loadmodule "sl.so"|loadmodule "sl.so"\nloadmodule "kex.so"\nloadmodule "jsonrpcs.so"\nmodparam("jsonrpcs", "fifo_name", "'"$WORK"'/rpc.fifo")\nmodparam("jsonrpcs", "transport", 2)|' \
    "$BENCH/cfg/registrar.cfg" >"$WORK/registrar.cfg"
contacts() { # the location table's contacts, from either server's statistics
    rpc_fifo "$WORK/rpc.fifo" stats.get_statistics '["usrloc:"]' | grep -o 'location[-_]contacts=[0-9]*' | head -1 | cut -d= -f2
}
s_shm=$(shm_per_unit "$WORK/rpc.fifo" contacts env SERVER_BIN="$SIPR" CFG="$WORK/registrar.cfg" RESULTS_FILE="$RESULTS" \
    "$BENCH/run.sh" sipr registrar 1000 12000)
k_shm=$(shm_per_unit "$WORK/rpc.fifo" contacts env SERVER_EXTRA_ARGS="-x tlsf" CFG="$WORK/registrar.cfg" RESULTS_FILE="$RESULTS" \
    "$BENCH/run.sh" kamailio registrar 1000 12000)
echo
echo "shm bytes per registered contact: sipr $s_shm, Kamailio $k_shm, ratio $(ratio "$s_shm" "$k_shm")"

# Instructions per registration: callgrind, 1 worker, 50/s, two runs of
# CG_CALLS1 and CG_CALLS2 registrations; their difference over the
# difference of the counts leaves start-up and shutdown out.
CG_CALLS1=${CG_CALLS1:-500}
CG_CALLS2=${CG_CALLS2:-1500}
if command -v valgrind >/dev/null; then
    per_call() { awk -v a="$1" -v b="$2" -v n=$((CG_CALLS2 - CG_CALLS1)) 'BEGIN { printf "%.0f", (b - a) / n }'; }
    echo
    echo "| instructions per registration (callgrind) | sipr | Kamailio | ratio |"
    echo "|---|---|---|---|"
    for workload in plain digest; do
        run_sh=$BENCH/run.sh
        extra=()
        if [ "$workload" = digest ]; then
            run_sh=$WORK/bench-auth/run.sh
            extra=(CFG="$WORK/bench-auth/cfg/registrar_auth.cfg")
        fi
        read -r s1w s1t <<<"$(RUN_SH=$run_sh cg_run "$WORK/$workload" sipr registrar "$CG_CALLS1" "\"\$SERVER_BIN\" $CG_ARGS" SERVER_BIN="$SIPR" "${extra[@]}")"
        read -r s2w s2t <<<"$(RUN_SH=$run_sh cg_run "$WORK/$workload" sipr registrar "$CG_CALLS2" "\"\$SERVER_BIN\" $CG_ARGS" SERVER_BIN="$SIPR" "${extra[@]}")"
        read -r k1w k1t <<<"$(RUN_SH=$run_sh cg_run "$WORK/$workload" kamailio registrar "$CG_CALLS1" "kamailio $CG_ARGS -x tlsf" "${extra[@]}")"
        read -r k2w k2t <<<"$(RUN_SH=$run_sh cg_run "$WORK/$workload" kamailio registrar "$CG_CALLS2" "kamailio $CG_ARGS -x tlsf" "${extra[@]}")"
        sw=$(per_call "$s1w" "$s2w"); st=$(per_call "$s1t" "$s2t"); kw=$(per_call "$k1w" "$k2w"); kt=$(per_call "$k1t" "$k2t")
        echo "| $workload: the UDP worker | $sw | $kw | $(ratio "$sw" "$kw") |"
        echo "| $workload: every process | $st | $kt | $(ratio "$st" "$kt") |"
    done
else
    echo "valgrind not installed: no instruction counts (make bench installs it)"
fi

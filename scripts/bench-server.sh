#!/usr/bin/env bash
# Server benchmark against Kamailio (`make bench` runs it): the OPTIONS
# workload of ../shared/bench for sipr and for Kamailio (-x tlsf, its
# fastest allocator) at 2,000 and 10,000 requests/s, same children, same
# machine, one run each; prints CPU µs per request for both and the ratio
# (target: sipr ≤ 0.67× Kamailio, 0 failures) and that of a responder
# doing no SIP work (the floor); then the highest rate each
# server carries with 0 failures (MAX_RATES, 5 s of load per step, up to
# the first step that fails; target: sipr's ≥ Kamailio's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench
SIPR=${SIPR:-$ROOT/target/release/sipr}
FLOOR=${FLOOR:-$ROOT/target/release/examples/udp_floor}
export FLOOR
RATES=${RATES:-"2000 10000"}
MAX_RATES=${MAX_RATES:-"10000 20000 30000 40000 50000"}
if [ ! -x "$BENCH/run.sh" ]; then
    echo "SKIPPED: $BENCH/run.sh not found (../shared beside the repository)"
    exit 0
fi
for tool in kamailio sipp sipsak; do
    command -v "$tool" >/dev/null || { echo "$tool not installed (make bench installs it)" >&2; exit 1; }
done
[ -x "$SIPR" ] || { echo "$SIPR not built (make bench builds it)" >&2; exit 1; }
RESULTS=$(mktemp /tmp/sipr-bench.XXXXXX)
trap 'rm -f "$RESULTS"' EXIT

# shellcheck source=scripts/bench-lib.bash
. "$ROOT/scripts/bench-lib.bash"

# FLOOR (core/examples/udp_floor.rs, built by make bench) answers with
# the same two syscalls per request and no SIP work: what is left of a
# request's cost when a server does nothing (the kernel's share).
echo "| rate | sipr µs/request | Kamailio µs/request | ratio | floor µs/request | floor/Kamailio | sipr ok/fail | Kamailio ok/fail | sipr achieved/s | Kamailio achieved/s |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for rate in $RATES; do
    s=$(SERVER_BIN="$SIPR" RESULTS_FILE="$RESULTS" "$BENCH/run.sh" sipr options "$rate" 2>/dev/null | tail -1)
    k=$(RESULTS_FILE="$RESULTS" SERVER_EXTRA_ARGS="-x tlsf" "$BENCH/run.sh" kamailio options "$rate" 2>/dev/null | tail -1)
    f=""
    if [ -x "$FLOOR" ]; then
        # evaluated by run.sh, which sets SERVER_PORT and CHILDREN
        # shellcheck disable=SC2016
        f=$(SERVER_CMD='"$FLOOR" 127.0.0.1:$SERVER_PORT $CHILDREN' RESULTS_FILE="$RESULTS" \
            "$BENCH/run.sh" floor options "$rate" 2>/dev/null | tail -1) || true
    fi
    su=$(field "$s" cpu_us_per_call); ku=$(field "$k" cpu_us_per_call); fu=$(field "$f" cpu_us_per_call)
    ratio=$(awk -v a="$su" -v b="$ku" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    fratio=$(awk -v a="$fu" -v b="$ku" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $rate | $su | $ku | $ratio | ${fu:--} | $fratio | $(field "$s" ok)/$(field "$s" fail) | $(field "$k" ok)/$(field "$k" fail) | $(field "$s" achieved_cps) | $(field "$k" achieved_cps) |"
done

# The rate sweep: a step passes when every request (call) was answered
# (ok = calls, fail = 0); it stops at the first step that fails.
# Retransmissions (sipp re-sending what a full socket dropped) and the
# rate sipp achieved are shown beside it, since past ~30,000/s on 2 cores
# sipp itself is the limit. Sets best[KIND].
sweep() { # workload, "rates", server kind, extra run.sh environment...
    local workload=$1 rates=$2 kind=$3 line calls
    shift 3
    best[$kind]=0
    for rate in $rates; do
        calls=$((rate * 5))
        # a run that could not start (the previous server's port not yet
        # free) is retried once
        for _ in 1 2; do
            line=$(env "$@" RESULTS_FILE="$RESULTS" DURATION=5 "$BENCH/run.sh" "$kind" "$workload" "$rate" "$calls" 2>/dev/null | tail -1) || true
            case "$line" in workload=*) break ;; *) sleep 3 ;; esac
        done
        echo "| $kind | $rate | $(field "$line" ok)/$(field "$line" fail) | $(field "$line" retrans) | $(field "$line" achieved_cps) | $(field "$line" cpu_us_per_call) |"
        if [ "$(field "$line" ok)" = "$calls" ] && [ "$(field "$line" fail)" = 0 ]; then
            best[$kind]=$rate
        else
            break
        fi
    done
}
declare -A best=([sipr]=0 [kamailio]=0)
echo
echo "| server | rate /s (5 s) | ok/fail | retransmissions | achieved/s | CPU µs/request |"
echo "|---|---|---|---|---|---|"
sweep options "$MAX_RATES" sipr SERVER_BIN="$SIPR"
sweep options "$MAX_RATES" kamailio SERVER_EXTRA_ARGS="-x tlsf"
echo
echo "highest 0-failure rate: sipr ${best[sipr]}/s, Kamailio ${best[kamailio]}/s"

# The proxy workload (issue 16): INVITE/ACK/BYE through tm + rr
# (../shared/bench/cfg/proxy.cfg: t_relay, record_route, loose_route) to a
# sipp UAS. For each of PROXY_RATES, PROXY_RUNS alternating runs of sipr,
# Kamailio and the floor (udp_floor in relay mode: the same 5 datagrams in
# and 6 out per call, no SIP work); the medians of CPU µs per call, the
# ratio, and each server's CPU above the floor with its ratio.
PROXY_RATES=${PROXY_RATES:-"500 2000"}
PROXY_RUNS=${PROXY_RUNS:-3}
echo
echo "| proxy calls/s | sipr µs/call (median of $PROXY_RUNS) | Kamailio µs/call | ratio | floor µs/call | sipr above floor | Kamailio above floor | ratio above floor | sipr ok/fail | Kamailio ok/fail |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# shellcheck disable=SC2016
FLOOR_PROXY_CMD='"$FLOOR" 127.0.0.1:$SERVER_PORT $CHILDREN 127.0.0.1:$UAS_PORT'
# proxy_run KIND CALLS: one proxy run at $rate.
proxy_run() {
    case $1 in
        sipr) SERVER_BIN="$SIPR" RESULTS_FILE="$RESULTS" "$BENCH/run.sh" sipr proxy "$rate" "$2" 2>/dev/null | tail -1 ;;
        kamailio) RESULTS_FILE="$RESULTS" SERVER_EXTRA_ARGS="-x tlsf" "$BENCH/run.sh" kamailio proxy "$rate" "$2" 2>/dev/null | tail -1 ;;
        floor) SERVER_CMD="$FLOOR_PROXY_CMD" RESULTS_FILE="$RESULTS" "$BENCH/run.sh" floor proxy "$rate" "$2" 2>/dev/null | tail -1 ;;
    esac
}
for rate in $PROXY_RATES; do
    read -r sm km fm s_ok s_f k_ok k_f <<<"$(versus "$PROXY_RUNS" $((rate * 10)) proxy_run)"
    sa=$(minus "$sm" "$fm"); ka=$(minus "$km" "$fm")
    echo "| $rate | $sm | $km | $(ratio "$sm" "$km") | $fm | $sa | $ka | $(ratio "$sa" "$ka") | $s_ok/$s_f | $k_ok/$k_f |"
done

# The highest proxy rate with 0 failed calls, in steps of 1,000 calls/s
# (5 s of load per step, up to the first step that fails).
PROXY_MAX_RATES=${PROXY_MAX_RATES:-"1000 2000 3000 4000 5000 6000 7000 8000 9000 10000 11000 12000"}
echo
echo "| server | proxy calls/s (5 s) | ok/fail | retransmissions | achieved/s | CPU µs/call |"
echo "|---|---|---|---|---|---|"
sweep proxy "$PROXY_MAX_RATES" sipr SERVER_BIN="$SIPR"
sweep proxy "$PROXY_MAX_RATES" kamailio SERVER_EXTRA_ARGS="-x tlsf"
echo
echo "highest 0-failure proxy rate: sipr ${best[sipr]}/s, Kamailio ${best[kamailio]}/s, ratio $(ratio "${best[sipr]}" "${best[kamailio]}")"

# Shared memory per transaction: used shm (core.shmmem real_used) and
# transactions in the table (tm.stats current) over the jsonrpcs FIFO, as
# soon as the server answers (before or at the start of the load), then
# after 6 s of a steady 500 calls/s; the difference of the bytes over the
# difference of the transactions. The bench cfg plus jsonrpcs, the same
# for both servers.
SHM_DIR=$(mktemp -d /tmp/sipr-bench-shm.XXXXXX)
trap 'rm -f "$RESULTS"; rm -rf "$SHM_DIR"' EXIT
cp "$BENCH/cfg/common.inc.cfg" "$SHM_DIR/"
sed 's|^loadmodule "tm.so"|loadmodule "jsonrpcs.so"\nmodparam("jsonrpcs", "fifo_name", "'"$SHM_DIR"'/rpc.fifo")\nmodparam("jsonrpcs", "transport", 2)\nloadmodule "tm.so"|' \
    "$BENCH/cfg/proxy.cfg" >"$SHM_DIR/proxy.cfg"
tm_current() { json_int "$(rpc_fifo "$SHM_DIR/rpc.fifo" tm.stats)" current; }
s_shm=$(shm_per_unit "$SHM_DIR/rpc.fifo" tm_current env SERVER_BIN="$SIPR" CFG="$SHM_DIR/proxy.cfg" \
    RESULTS_FILE="$RESULTS" "$BENCH/run.sh" sipr proxy 500 6000)
k_shm=$(shm_per_unit "$SHM_DIR/rpc.fifo" tm_current env SERVER_EXTRA_ARGS="-x tlsf" CFG="$SHM_DIR/proxy.cfg" \
    RESULTS_FILE="$RESULTS" "$BENCH/run.sh" kamailio proxy 500 6000)
echo
echo "shm bytes per transaction at 500 calls/s: sipr $s_shm, Kamailio $k_shm, ratio $(ratio "$s_shm" "$k_shm")"

# User-space instructions per call: callgrind on the servers (1 worker,
# 50 calls/s), two runs of CG_CALLS1 and CG_CALLS2 calls; the difference
# of their instruction counts over the difference of the calls leaves out
# start-up and shutdown. The worker alone, and every process of the tree.
CG_CALLS1=${CG_CALLS1:-500}
CG_CALLS2=${CG_CALLS2:-1500}
if command -v valgrind >/dev/null; then
    per_call() { awk -v a="$1" -v b="$2" -v n=$((CG_CALLS2 - CG_CALLS1)) 'BEGIN { printf "%.0f", (b - a) / n }'; }
    read -r s1w s1t <<<"$(cg_run "$SHM_DIR" sipr proxy "$CG_CALLS1" "\"\$SERVER_BIN\" $CG_ARGS" SERVER_BIN="$SIPR")"
    read -r s2w s2t <<<"$(cg_run "$SHM_DIR" sipr proxy "$CG_CALLS2" "\"\$SERVER_BIN\" $CG_ARGS" SERVER_BIN="$SIPR")"
    read -r k1w k1t <<<"$(cg_run "$SHM_DIR" kamailio proxy "$CG_CALLS1" "kamailio $CG_ARGS -x tlsf")"
    read -r k2w k2t <<<"$(cg_run "$SHM_DIR" kamailio proxy "$CG_CALLS2" "kamailio $CG_ARGS -x tlsf")"
    sw=$(per_call "$s1w" "$s2w"); st=$(per_call "$s1t" "$s2t"); kw=$(per_call "$k1w" "$k2w"); kt=$(per_call "$k1t" "$k2t")
    echo
    echo "| instructions per proxied call (callgrind) | sipr | Kamailio | ratio |"
    echo "|---|---|---|---|"
    echo "| the UDP worker | $sw | $kw | $(ratio "$sw" "$kw") |"
    echo "| every process | $st | $kt | $(ratio "$st" "$kt") |"
else
    echo "valgrind not installed: no instruction counts (make bench installs it)"
fi

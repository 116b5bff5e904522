# shellcheck shell=bash
# Helpers the server benchmarks source (scripts/bench-server.sh,
# scripts/bench-registrar.sh).

# field LINE KEY: a value of run.sh's key=value summary line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
# median of the numbers on stdin ("-" when none).
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
# ratio A B: A / B with two decimals ("-" when not computable).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && a != "" && b > 0) printf "%.2f", a / b; else print "-" }'; }
# minus A B: A - B with one decimal.
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && a != "" && b != "") printf "%.1f", a - b; else print "-" }'; }

# rpc_fifo FIFO METHOD [PARAMS_JSON]: one JSON-RPC request over a
# jsonrpcs FIFO; the reply's JSON on one line (empty on no answer in 3 s).
rpc_fifo() {
    local reply="sipr_bench_$$_$RANDOM" out params=${3:-[]}
    mkfifo "/tmp/$reply"
    printf '{"jsonrpc":"2.0","method":"%s","params":%s,"reply_name":"%s","id":1}\n' "$2" "$params" "$reply" >"$1" &
    out=$(timeout 3 cat "/tmp/$reply" | tr -d '\n\t ') || true
    rm -f "/tmp/$reply"
    echo "$out"
}
# json_int JSON KEY: the first integer value of KEY.
json_int() { grep -o "\"$2\":[0-9]*" <<<"$1" | head -1 | cut -d: -f2; }

# The server command callgrind runs (run.sh evaluates it: kamailio's
# arguments, the workload's cfg and defines).
# shellcheck disable=SC2016
CG_ARGS='-DD -E -m "$SHM_MB" -M "$PKG_MB" -Y "$RUN_DIR" -w "$RUN_DIR" -f "$CFG" -A "BENCH_LISTEN=udp:127.0.0.1:$SERVER_PORT" -A "BENCH_CHILDREN=$CHILDREN" -A "BENCH_DEBUG=0" -A "BENCH_UAS=\"sip:127.0.0.1:$UAS_PORT\""'

# cg_run DIR KIND WORKLOAD CALLS SERVER_COMMAND [ENV...]: one run.sh run
# of CALLS calls at 50/s under callgrind (1 worker); prints "worker_ir
# tree_ir": the busiest process's instructions and every process's.
cg_run() {
    local dir=$1/cg.$2.$3.$4 kind=$2 workload=$3 calls=$4 cmd=$5
    shift 5
    mkdir -p "$dir"
    env "$@" CHILDREN=1 SHM_MB=256 SERVER_CMD="valgrind --tool=callgrind --callgrind-out-file=$dir/out.%p $cmd" \
        RESULTS_FILE="$dir/results" "${RUN_SH:-$BENCH/run.sh}" "$kind" "$workload" 50 "$calls" >/dev/null 2>&1 || true
    awk '/^totals:/ { t += $2; if ($2 > w) w = $2 } END { print w + 0, t + 0 }' "$dir"/out.*
}

# shm_per_unit FIFO COUNTER COMMAND...: shared memory (core.shmmem's
# real_used, over the jsonrpcs FIFO) per unit COUNTER counts (a shell
# function printing a number: tm's transactions, usrloc's contacts), from
# as soon as the server answers to 6 s into the load COMMAND runs (in the
# background, a run.sh run of the server with jsonrpcs on FIFO).
shm_per_unit() {
    local fifo=$1 counter=$2 pid a="" b ca cb
    shift 2
    rm -f "$fifo"
    "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        [ -p "$fifo" ] && a=$(rpc_fifo "$fifo" core.shmmem) && [ -n "$a" ] && break
        sleep 0.1
    done
    ca=$("$counter")
    sleep 6
    b=$(rpc_fifo "$fifo" core.shmmem)
    cb=$("$counter")
    wait "$pid" || true
    awk -v a="$(json_int "$a" real_used)" -v b="$(json_int "$b" real_used)" -v ca="${ca:-0}" -v cb="${cb:-0}" \
        'BEGIN { if (cb > ca && a != "" && b != "") printf "%.0f", (b - a) / (cb - ca); else print "-" }'
}

# versus RUNS CALLS RUN: RUNS alternating runs of sipr, Kamailio and the
# floor, each through `RUN KIND CALLS` (a function printing run.sh's
# summary line); prints the medians of CPU µs per call (sipr, Kamailio,
# floor) and the summed ok/fail counts: "s k f s_ok s_fail k_ok k_fail"
# (a run that did not report counts as nothing answered).
versus() {
    local runs=$1 calls=$2 run=$3 s k f so sf ko kf s_ok=0 s_f=0 k_ok=0 k_f=0
    local s_us=() k_us=() f_us=()
    for _ in $(seq "$runs"); do
        s=$("$run" sipr "$calls") || true
        k=$("$run" kamailio "$calls") || true
        f=$("$run" floor "$calls") || true
        s_us+=("$(field "$s" cpu_us_per_call)"); k_us+=("$(field "$k" cpu_us_per_call)"); f_us+=("$(field "$f" cpu_us_per_call)")
        so=$(field "$s" ok); sf=$(field "$s" fail); ko=$(field "$k" ok); kf=$(field "$k" fail)
        s_ok=$((s_ok + ${so:-0})); s_f=$((s_f + ${sf:-$calls}))
        k_ok=$((k_ok + ${ko:-0})); k_f=$((k_f + ${kf:-$calls}))
    done
    echo "$(printf '%s\n' "${s_us[@]}" | { grep . || true; } | median)" \
        "$(printf '%s\n' "${k_us[@]}" | { grep . || true; } | median)" \
        "$(printf '%s\n' "${f_us[@]}" | { grep . || true; } | median)" "$s_ok" "$s_f" "$k_ok" "$k_f"
}

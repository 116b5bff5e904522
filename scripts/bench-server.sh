#!/usr/bin/env bash
# Server benchmark against Kamailio (`make bench` runs it): the OPTIONS
# workload of ../shared/bench for sipr and for Kamailio (-x tlsf, its
# fastest allocator) at 2,000 and 10,000 requests/s, same children, same
# machine, one run each; prints CPU µs per request for both and the ratio
# (target: sipr ≤ 0.67× Kamailio, 0 failures).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${SIPR_SHARED_DIR:-$ROOT/../shared}/bench
SIPR=${SIPR:-$ROOT/target/release/sipr}
RATES=${RATES:-"2000 10000"}
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

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

echo "| rate | sipr µs/request | Kamailio µs/request | ratio | sipr ok/fail | Kamailio ok/fail | sipr achieved/s | Kamailio achieved/s |"
echo "|---|---|---|---|---|---|---|---|"
for rate in $RATES; do
    s=$(SERVER_BIN="$SIPR" RESULTS_FILE="$RESULTS" "$BENCH/run.sh" sipr options "$rate" 2>/dev/null | tail -1)
    k=$(RESULTS_FILE="$RESULTS" SERVER_EXTRA_ARGS="-x tlsf" "$BENCH/run.sh" kamailio options "$rate" 2>/dev/null | tail -1)
    su=$(field "$s" cpu_us_per_call); ku=$(field "$k" cpu_us_per_call)
    ratio=$(awk -v a="$su" -v b="$ku" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $rate | $su | $ku | $ratio | $(field "$s" ok)/$(field "$s" fail) | $(field "$k" ok)/$(field "$k" fail) | $(field "$s" achieved_cps) | $(field "$k" achieved_cps) |"
done

#!/usr/bin/env bash
# The module ABI's identity check end to end: a module built from a copy
# of this tree loads into this tree's sipr; the same module built from a
# copy that differs only by a comment in mem/ (a crate both sides link) is
# refused at loadmodule with both build ids, before any of its code runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIPR=${SIPR:-$ROOT/target/debug/sipr}
# a target dir of its own (kept between runs: the dependencies build once)
TD=${SIPR_ABI_TARGET:-$ROOT/target/abi-check}
COPY=$(mktemp -d /tmp/sipr-abi.XXXXXX)
trap 'rm -rf "$COPY"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

tar -C "$ROOT" --exclude=target -cf - Cargo.toml Cargo.lock rustfmt.toml core mem locking modules scripts/siprctl scripts/db | tar -C "$COPY" -xf -
build() { timeout 900 cargo build -q --manifest-path "$COPY/Cargo.toml" -p sipr-mod-maxfwd --target-dir "$TD"; }
check() {
    printf 'loadmodule "%s"\nrequest_route {\n    mf_process_maxfwd_header("10");\n}\n' "$TD/debug/libmaxfwd.so" > "$COPY/abi.cfg"
    "$SIPR" -c -f "$COPY/abi.cfg" > "$COPY/check.out" 2>&1
}

echo "== a module built from an identical copy of the tree loads"
build || fail "cannot build the copy"
check || fail "identical tree refused: $(cat "$COPY/check.out")"

echo "== the same module from a copy differing only in mem/ is refused"
echo "// a comment that changes nothing but the sources" >> "$COPY/mem/src/lib.rs"
build || fail "cannot build the changed copy"
if check; then fail "a module of another build was loaded"; fi
grep -q "was built by another build of sipr (module build [0-9a-f]*, this sipr build [0-9a-f]*)" "$COPY/check.out" \
    || fail "no clear refusal: $(cat "$COPY/check.out")"
echo "abi_build_id: ok"

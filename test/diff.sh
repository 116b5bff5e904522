#!/usr/bin/env bash
# The differential test bed (test/diff/run): every case run on Debian's
# Kamailio and on this tree's sipr with the same cfg and messages; any
# difference not listed in test/diff/deliberate fails; then
# docs/compatibility.md must be up to date (test/diff/compat.py).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v kamailio >/dev/null || { echo "FAIL: kamailio not installed (make test installs it)" >&2; exit 1; }
[ -x "${SIPR:-$ROOT/target/debug/sipr}" ] || { echo "FAIL: sipr not built" >&2; exit 1; }
timeout 600 python3 "$ROOT/test/diff/run"
# the compatibility table is what the tree, Kamailio's docs and the bed give
python3 "$ROOT/test/diff/compat.py" --check

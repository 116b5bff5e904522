# shellcheck shell=bash
# Helpers the end-to-end tests source (not a test itself: `make test` runs
# test/*.sh only).

# sipp_counts FILE: sets `ok` and `bad` to the "Successful call" and
# "Failed call" totals of a sipp run's final statistics screen in FILE.
sipp_counts() {
    ok=$(grep -E "Successful call" "$1" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
    bad=$(grep -E "Failed call" "$1" | awk -F'|' '{gsub(/ /,"",$3); print $3}')
}

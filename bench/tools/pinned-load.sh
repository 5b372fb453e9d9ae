#!/usr/bin/env bash
# Requests/s and server CPU per request for one server, with the server pinned to CPU 0 and wrk
# to CPU 1 (Linux, 2+ CPUs, wrk on PATH): steadier than unpinned runs on a small shared VM, for
# A/B comparisons of two trees (run old and new alternately, several rounds).
#
# usage: bench/tools/pinned-load.sh <seconds> <server.ts> [args...]
#   The server must print "<url> [<session token>]" as its first line of stdout, as
#   `bench/adapters.ts --serve <framework> <variant>` does. The token goes in the cookie.
# e.g.   bench/tools/pinned-load.sh 3 bench/adapters.ts --serve fastify memory
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
taskset -c 0 "$root/node_modules/.bin/node" "$@" >"$out" &
launcher=$!
until [ -s "$out" ]; do sleep 0.1; done
read -r url token <"$out"
# node_modules/.bin/node may be a wrapper around the real binary: measure the last descendant.
server=$launcher
while child=$(pgrep -P "$server" | tail -1) && [ -n "$child" ]; do server=$child; done
cookie="__Host-coatcheck=${token:-ccs_AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB}"
taskset -c 1 wrk -t1 -c32 -d1s -H "cookie: $cookie" "$url" >/dev/null # warm-up
read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$server/stat")
report=$(taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -H "cookie: $cookie" "$url")
read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$server/stat")
requests=$(awk '/requests in/ {print $1}' <<<"$report")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
# /proc ticks are 1/100 s: µs per request = ticks * 10000 / requests.
awk -v label="$*" -v rps="$rps" -v n="$requests" -v u=$((user1 - user0)) -v s=$((sys1 - sys0)) \
  'BEGIN { printf "%s req/s=%s user_us/req=%.1f sys_us/req=%.1f\n", label, rps, u * 10000 / n, s * 10000 / n }'
kill "$server" "$launcher" 2>/dev/null || true
wait "$launcher" 2>/dev/null || true

#!/usr/bin/env bash
# Requests/s and server CPU per request for one server, with the server pinned to CPU 0 and wrk
# to CPU 1 (Linux, 2+ CPUs, wrk on PATH): steadier than unpinned runs on a small shared VM, for
# A/B comparisons of two trees (run old and new alternately, several rounds).
#
# usage: bench/tools/pinned-load.sh [--profile <out.cpuprofile>] <seconds> <server.ts> [args...]
#   The server must print "<url> [<session token>]" as its first line of stdout, as
#   `bench/adapters.ts --serve <framework> <variant>` does. The token goes in the cookie.
#   --profile also writes a V8 CPU profile of the server (compare two with profile-diff.mjs,
#   giving it the request count this prints for each).
# e.g.   bench/tools/pinned-load.sh 3 bench/adapters.ts --serve fastify memory
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
profile=
if [ "${1:-}" = --profile ]; then
  profile=$2
  shift 2
fi
seconds=$1
shift
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
flags=()
if [ -n "$profile" ]; then
  # SIGINT must end the process normally, or V8 writes no profile.
  flags=(--cpu-prof --cpu-prof-dir="$dir" --import "data:text/javascript,process.on('SIGINT',()=>process.exit(0))")
fi
taskset -c 0 "$root/node_modules/.bin/node" "${flags[@]}" "$@" >"$dir/stdout" &
launcher=$!
until [ -s "$dir/stdout" ]; do sleep 0.1; done
read -r url token <"$dir/stdout"
# node_modules/.bin/node may be a wrapper around the real binary: measure the last descendant.
server=$launcher
while child=$(pgrep -P "$server" | tail -1) && [ -n "$child" ]; do server=$child; done
cookie="__Host-coatcheck=${token:-ccs_AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB}"
warmup=$(taskset -c 1 wrk -t1 -c32 -d1s -H "cookie: $cookie" "$url" | awk '/requests in/ {print $1}')
read -r user0 sys0 < <(awk '{print $14, $15}' "/proc/$server/stat")
report=$(taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -H "cookie: $cookie" "$url")
read -r user1 sys1 < <(awk '{print $14, $15}' "/proc/$server/stat")
requests=$(awk '/requests in/ {print $1}' <<<"$report")
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
# /proc ticks are 1/100 s: µs per request = ticks * 10000 / requests.
awk -v label="$*" -v rps="$rps" -v n="$requests" -v u=$((user1 - user0)) -v s=$((sys1 - sys0)) \
  'BEGIN { printf "%s req/s=%s requests=%d user_us/req=%.1f sys_us/req=%.1f\n", label, rps, n, u * 10000 / n, s * 10000 / n }'
kill -INT "$server" 2>/dev/null || true
wait "$launcher" 2>/dev/null || true
if [ -n "$profile" ]; then
  mv "$dir"/*.cpuprofile "$profile"
  echo "profile: $profile covers $((warmup + requests)) requests (warm-up included)"
fi

#!/usr/bin/env bash
# A V8 CPU profile of one server under 5 s of pinned wrk load; prints the request count, which
# profile-diff.mjs needs. Same server contract as pinned-load.sh.
#
# usage: bench/tools/cpu-profile.sh <out.cpuprofile> <server.ts> [args...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target=$1
shift
dir=$(mktemp -d)
out="$dir/stdout"
taskset -c 0 "$root/node_modules/.bin/node" --cpu-prof --cpu-prof-dir="$dir" \
  --import "data:text/javascript,process.on('SIGINT',()=>process.exit(0))" "$@" >"$out" &
launcher=$!
until [ -s "$out" ]; do sleep 0.1; done
read -r url token <"$out"
server=$launcher
while child=$(pgrep -P "$server" | tail -1) && [ -n "$child" ]; do server=$child; done
cookie="__Host-coatcheck=${token:-ccs_AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB}"
taskset -c 1 wrk -t1 -c32 -d5s -H "cookie: $cookie" "$url" | awk '/requests in/ {print $1}'
kill -INT "$server"
wait "$launcher" 2>/dev/null || true
mv "$dir"/*.cpuprofile "$target"
rm -rf "$dir"

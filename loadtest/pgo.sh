#!/usr/bin/env bash
# Writes sample/default.pgo, the CPU profile `go build ./sample` optimises
# the sample with (profile-guided optimisation: hot calls inlined, hot
# interface calls made direct). The profile is the sample's own under the
# load tool's scenarios: echo, joins and fan-out, each on a fresh server,
# profiled for PROFILE_SECONDS in the middle of its run, the three merged
# (each weighs as much CPU as it used).
#
#   bash loadtest/pgo.sh
#
# Run it again when the hot paths change (Go tolerates a profile of an
# older build: functions it no longer finds are skipped). The sample is
# profiled as built with the current default.pgo, as Go recommends.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/loadtest/lib.sh"
cd "$root"

: "${PROFILE_SECONDS:=15}"
: "${PPROF_ADDR:=127.0.0.1:6071}"
: "${SCENARIOS:=echo joins fanout}"

tmp=$(mktemp -d)
server_pid=
load_pid=
cleanup() {
	[[ -z $load_pid ]] || kill -TERM "$load_pid" 2>/dev/null || true
	[[ -z $server_pid ]] || kill -KILL "$server_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./sample ./loadtest/cmd/phxload
secret="pgo-$(date +%s)-secret-key-base-0123456789-0123456789"
duration=$((PROFILE_SECONDS + 13))s

profiles=()
for sc in $SCENARIOS; do
	case $sc in
	echo) flags=(-conns 50) ;;
	joins) flags=(-conns 20) ;;
	fanout) flags=(-subs 5000 -rate 10) ;;
	*)
		echo "pgo.sh: unknown scenario $sc" >&2
		exit 2
		;;
	esac
	log=$tmp/$sc.log
	"$tmp/sample" -addr 127.0.0.1:0 -db "$tmp/chat-$sc.db" -secret "$secret" -pprof "$PPROF_ADDR" 2>"$log" >/dev/null &
	server_pid=$!
	url=$(socket_url "$log" "$server_pid") || exit 1
	"$tmp/phxload" -url "$url" -pid "$server_pid" -scenario "$sc" -sources 8 -heartbeat 30s \
		-connect-rate 1000 -duration "$duration" -token-secret "$secret" "${flags[@]}" >/dev/null &
	load_pid=$!
	sleep 8 # connected and joined: the profile is of the load, not of its start
	echo "profiling $sc for ${PROFILE_SECONDS}s"
	curl -fsS -o "$tmp/$sc.pprof" "http://$PPROF_ADDR/debug/pprof/profile?seconds=$PROFILE_SECONDS"
	profiles+=("$tmp/$sc.pprof")
	wait "$load_pid"
	load_pid=
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=
done

go tool pprof -proto "${profiles[@]}" >"$tmp/merged.pgo"
mv "$tmp/merged.pgo" sample/default.pgo
echo "wrote sample/default.pgo ($(wc -c <sample/default.pgo) bytes)"

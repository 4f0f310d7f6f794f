#!/usr/bin/env bash
# Compares two builds of the sample, and both with the floor, on one of
# phxload's single-process scenarios (echo, joins, joins-shared, fanout):
# each round runs build A, build B and the floor one after the other, a
# fresh server each, in an order that turns from round to round, and
# prints each one's server CPU per operation and operations a second; at
# the end, the medians of the rounds' ratios B/A, A/floor and B/floor.
#
#   bash loadtest/ab.sh REV_A REV_B   # git revisions; . is the working tree
#
# A ratio taken within a round compares runs a minute apart, where the
# matrix's compare sittings: on a shared machine a build's own figure
# moves by ten to twenty per cent between sittings, and the ratios of a
# round by a few.
#
# AB_SCENARIO (echo), AB_ROUNDS (6), AB_DURATION (12s) and AB_CONNS (50
# for echo, 20 for joins, 100 for joins-shared, 1000 subscribers for
# fanout) set the load; AB_TOPICS (10) the topics of joins-shared and
# AB_RATE (10 a second) the broadcasts of fanout.
set -euo pipefail

if [[ $# != 2 ]]; then
	echo "usage: $0 REV_A REV_B" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/loadtest/lib.sh"
: "${AB_SCENARIO:=echo}" "${AB_ROUNDS:=6}" "${AB_DURATION:=12s}" "${AB_TOPICS:=10}" "${AB_RATE:=10}" "${SOURCES:=8}"
case $AB_SCENARIO in
echo) : "${AB_CONNS:=50}" && load=(-scenario echo -conns "$AB_CONNS") op=round_trip ;;
joins) : "${AB_CONNS:=20}" && load=(-scenario joins -conns "$AB_CONNS") op=join_leave ;;
joins-shared) : "${AB_CONNS:=100}" && load=(-scenario joins -conns "$AB_CONNS" -topics "$AB_TOPICS") op=join_leave ;;
fanout) : "${AB_CONNS:=1000}" && load=(-scenario fanout -subs "$AB_CONNS" -rate "$AB_RATE") op=delivery ;;
*)
	echo "AB_SCENARIO: echo, joins, joins-shared or fanout, not $AB_SCENARIO" >&2
	exit 2
	;;
esac

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

build_rev "$tmp/bin-a" "$1" ./sample
build_rev "$tmp/bin-b" "$2" ./sample
(cd "$root" && go build -o "$tmp/" ./loadtest/cmd/phxload ./loadtest/cmd/floor)

secret="loadtest-$(date +%s)-secret-key-base-0123456789"

# run TARGET ROUND: one server of TARGET (a, b or floor) and phxload's
# load on it; its output in $tmp/TARGET-ROUND.out.
run() {
	local target=$1 r=$2 log=$tmp/$1-$2.log url auth=()
	case $target in
	floor) "$tmp/floor" -addr 127.0.0.1:0 2>"$log" >/dev/null & ;;
	*)
		"$tmp/bin-$target/sample" -addr 127.0.0.1:0 -db "$tmp/$target-$r.db" -secret "$secret" 2>"$log" >/dev/null &
		auth=(-token-secret "$secret")
		;;
	esac
	server_pid=$!
	url=$(socket_url "$log" "$server_pid") || exit 1
	"$tmp/phxload" -url "$url" -pid "$server_pid" -label "$target" "${auth[@]}" "${load[@]}" \
		-duration "$AB_DURATION" -sources "$SOURCES" -heartbeat 30s >"$tmp/$target-$r.out" 2>&1 || true
	kill -TERM "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# figures FILE: the server CPU per operation and the operations a second
# phxload printed, and a note when the run lost or failed anything.
figures() {
	awk -v op="server_cpu_us_per_$op" '
		$1 == op {cpu = $2}
		$1 ~ /_per_s$/ && $1 !~ /^server/ {rate = $2}
		($1 == "errors" || $1 == "loss" || $1 == "order_violations") && $2 != 0 {bad = bad " " $1 "=" $2}
		END {printf "%s %s%s", (cpu == "" ? "?" : cpu), (rate == "" ? "?" : rate), bad}' "$1"
}

ratio() { awk -v x="$1" -v y="$2" 'BEGIN {if (x + 0 > 0 && y + 0 > 0) printf "%.3f", x / y; else print "?"}'; }

median() {
	grep -v '?' | sort -n |
		awk '{v[NR] = $1} END {if (NR) printf "median %.3f of %d rounds, %.3f–%.3f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR, v[1], v[NR]; else print "no rounds"}'
}

orders=("a b floor" "b floor a" "floor a b" "b a floor" "a floor b" "floor b a")
ba=() af=() bf=() rate_a=() rate_b=()
echo "$AB_SCENARIO: server CPU per ${op//_/ } (µs), ${op//_/ }s a second"
for r in $(seq "$AB_ROUNDS"); do
	for target in ${orders[$(((r - 1) % ${#orders[@]}))]}; do
		run "$target" "$r"
	done
	read -r ca pa na <<<"$(figures "$tmp/a-$r.out")"
	read -r cb pb nb <<<"$(figures "$tmp/b-$r.out")"
	read -r cf pf nf <<<"$(figures "$tmp/floor-$r.out")"
	ba+=("$(ratio "$cb" "$ca")") af+=("$(ratio "$ca" "$cf")") bf+=("$(ratio "$cb" "$cf")")
	rate_a+=("$(ratio "$pa" "$pf")") rate_b+=("$(ratio "$pb" "$pf")")
	echo "round $r: A $ca ($pa/s)${na:+ $na}, B $cb ($pb/s)${nb:+ $nb}, floor $cf ($pf/s)${nf:+ $nf}; B/A ${ba[-1]}, A/floor ${af[-1]}, B/floor ${bf[-1]}"
done
echo "CPU per operation:"
echo "  B/A:     $(printf '%s\n' "${ba[@]}" | median)"
echo "  A/floor: $(printf '%s\n' "${af[@]}" | median)"
echo "  B/floor: $(printf '%s\n' "${bf[@]}" | median)"
echo "operations a second against the floor's:"
echo "  A: $(printf '%s\n' "${rate_a[@]}" | median)"
echo "  B: $(printf '%s\n' "${rate_b[@]}" | median)"

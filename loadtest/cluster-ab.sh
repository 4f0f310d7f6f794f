#!/usr/bin/env bash
# Compares what two builds of the cluster cost under the same load: each
# round starts a cluster of CLUSTER_NODES sample processes of each build
# on loopback and runs phxload's fanout against it, then prints each
# one's server CPU per delivery and the second's over the first's, and at
# the end the median of the rounds' ratios.
#
#   bash loadtest/cluster-ab.sh REV_A REV_B   # git revisions; . is the working tree
#
# With AB_TOGETHER=1 (the default) both clusters run at once, so that both
# meet the same machine: the ratio moves by a few per cent from round to
# round, where runs one after the other on a shared machine differ by
# ten. But the two clusters and their load tools keep both cores busy, so
# the processes seldom go idle between broadcasts, and what waking them
# costs (threads, the runtime's sysmon) is mostly left out: a change that
# saves wake-ups shows little here. AB_TOGETHER=0 runs them one after the
# other, builds alternating, as cluster-room does: faithful, and as noisy.
#
# AB_ROUNDS (8), AB_SUBS (150), AB_RATE (200 broadcasts a second) and
# AB_DURATION (20s) set the load; CLUSTER_NODES (3) and CLUSTER_PORT
# (17501) as in run-matrix.sh.
set -euo pipefail

if [[ $# != 2 ]]; then
	echo "usage: $0 REV_A REV_B" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/loadtest/lib.sh"
: "${AB_ROUNDS:=8}" "${AB_SUBS:=150}" "${AB_RATE:=200}" "${AB_DURATION:=20s}" "${AB_TOGETHER:=1}"
: "${CLUSTER_NODES:=3}" "${CLUSTER_PORT:=17501}" "${SOURCES:=8}"

tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

build_rev "$tmp/bin-a" "$1" ./sample ./loadtest/cmd/phxload
build_rev "$tmp/bin-b" "$2" ./sample ./loadtest/cmd/phxload

secret="loadtest-$(date +%s)-secret-key-base-0123456789"
cluster_secret="loadtest-$(date +%s)-cluster-secret-0123456789"

free_port() {
	local port=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# start BUILD ROUND: a cluster of BUILD and its load, in the background;
# sets load_pid and node_pids.
port=$CLUSTER_PORT
start() {
	local b=$1 r=$2 i ports=() peers= urls=() log url
	node_pids=()
	for i in $(seq "$CLUSTER_NODES"); do
		port=$(free_port "$port")
		ports+=("$port")
		peers+=${peers:+,}127.0.0.1:$port
		port=$((port + 1))
	done
	for i in $(seq "$CLUSTER_NODES"); do
		log=$tmp/$b-node$i.log
		"$tmp/bin-$b/sample" -node "node$i" -addr 127.0.0.1:0 -cluster-addr "127.0.0.1:${ports[i - 1]}" -peers "$peers" \
			-cluster-secret "$cluster_secret" -db "$tmp/$b-$r-node$i.db" -secret "$secret" 2>"$log" >/dev/null &
		pids+=($!)
		node_pids+=($!)
		url=$(socket_url "$log" "${node_pids[-1]}") || exit 1
		urls+=("$url")
	done
	"$tmp/bin-$b/phxload" -url "$(IFS=,; echo "${urls[*]}")" -pid "$(IFS=,; echo "${node_pids[*]}")" -cluster \
		-scenario fanout -token-secret "$secret" -sources "$SOURCES" -subs "$AB_SUBS" -rate "$AB_RATE" \
		-duration "$AB_DURATION" -heartbeat 30s >"$tmp/$b-$r.out" 2>&1 &
	load_pid=$!
	pids+=($!)
}

# cpu FILE: the server CPU per delivery phxload printed, and a note when
# the run lost, misordered or failed anything.
cpu() {
	local v bad
	v=$(awk '$1 == "server_cpu_us_per_delivery" {print $2}' "$1")
	bad=$(awk '($1 == "loss" || $1 == "order_violations" || $1 == "errors") && $2 != 0 {printf " %s=%s", $1, $2}' "$1")
	echo "${v:-?}$bad"
}

# stop PID…: ends the nodes given and waits for them.
stop() {
	local pid
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null || true
	done
}

ratios=()
for r in $(seq "$AB_ROUNDS"); do
	# The cluster started first gets the lower ports and starts its load
	# first: the builds take turns.
	first=a second=b
	((r % 2)) || first=b second=a
	if [[ $AB_TOGETHER == 1 ]]; then
		start "$first" "$r"
		load_first=$load_pid nodes_first=("${node_pids[@]}")
		start "$second" "$r"
		wait "$load_first" "$load_pid" || true
		stop "${nodes_first[@]}" "${node_pids[@]}"
	else
		for b in "$first" "$second"; do
			start "$b" "$r"
			wait "$load_pid" || true
			stop "${node_pids[@]}"
		done
	fi
	pids=()
	a=$(cpu "$tmp/a-$r.out") b=$(cpu "$tmp/b-$r.out")
	ratio=$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a > 0 && b > 0) printf "%.3f", b / a; else print "?"}')
	ratios+=("$ratio")
	echo "round $r: A $a µs, B $b µs, B/A $ratio"
done
printf '%s\n' "${ratios[@]}" | grep -v '?' | sort -n |
	awk '{v[NR] = $1} END {if (NR) printf "B/A: median %.3f of %d rounds, %.3f–%.3f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR, v[1], v[NR]}'

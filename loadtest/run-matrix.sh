#!/usr/bin/env bash
# Runs every load scenario against the sample's bench channel and against
# the bare-gws floor, with the same parameters, one server at a time (a
# fresh one per run), on 127.0.0.1, and writes loadtest/results/latest.md
# and latest.json (also kept as quick.* or full.*, or as $RESULTS_NAME.*).
#
#   bash loadtest/run-matrix.sh          # quick: a few minutes
#   FULL=1 bash loadtest/run-matrix.sh   # the budgets' sizes (docs/architecture.md#budgets)
#
# Every parameter below can be set from the environment, e.g.
# SCENARIOS="fanout" FANOUT_SUBS=5000 bash loadtest/run-matrix.sh.
# REPEAT=3 runs each pair three times, sample and floor alternating, and
# the table shows medians: on a shared machine, a verdict within ten per
# cent of its budget is not settled by one run.
#
# metrics-fanout and metrics-echo are the fanout and echo of the sample
# with its metrics on (the default, /metrics scraped every second) against
# the sample run with -metrics=false: their pair is metrics and nometrics.
#
# history-fanout is the fanout of the sample with a history on bench:*
# (-bench-history 1000: every broadcast numbered and kept) against the
# sample without: its pair is history and nohistory.
#
# cluster-fanout is the fanout of the sample on a cluster of CLUSTER_NODES
# sample processes (-node/-cluster-addr/-peers on loopback), subscribers
# spread over them and the publisher on the first, against the same
# fanout on one sample process, run after it: its pair is cluster and
# single rather than sample and floor. cluster-room is the same for a
# small room at a high rate (CLUSTER_ROOM_SUBS, CLUSTER_ROOM_RATE), where
# what a broadcast costs to cross nodes weighs most against delivering it.
#
# storm (not in the default SCENARIOS: it is long) is a server restart
# under STORM_CLIENTS clients (quick 2,000, FULL=1 19,000), each joined to
# one of STORM_ROOMS rooms: once phxload says every client is ready, the
# server gets SIGTERM (SIGKILL 15 s later if still running) and, once it
# has exited, the same binary starts again on the same address; phxload
# learns the new pid through a fifo on its standard input. Its targets
# are sample (room:storm-*, with presence), nopresence (the sample's
# bench:storm-*) and floor; STORM_SAMPLE_ARGS adds flags to the sample's
# command line in both, e.g. "-presence-batch 50ms". With PROFILE_DIR,
# the new process is profiled from its start.
#
# PROFILE_DIR=dir keeps a CPU profile of every server of every run there,
# PROFILE_SECONDS long, taken from PROFILE_AFTER seconds into the load
# (net/http/pprof, on a listener of each server's own); PROFILE_PERF=1
# takes it with `perf record -g` instead, which also sees what pprof does
# not: the runtime's sysmon thread and the kernel's scheduling. A profiled
# run is for where the CPU goes, not how much: profiling costs some.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ ${FULL:-0} == 1 ]]; then
	mode=full
	: "${CONNS_STEPS:=1000,5000,10000,19000}" "${CONNS_HEARTBEAT:=30s}" "${CONNS_HOLD:=35s}"
	: "${FANOUT_SUBS:=10000}" "${FANOUT_DURATION:=30s}"
	: "${ECHO_DURATION:=30s}" "${JOINS_DURATION:=30s}"
	: "${STORM_CLIENTS:=19000}"
else
	mode=quick
	# Heartbeats every 5 s so that each connection sends a few in the hold.
	: "${CONNS_STEPS:=1000,2000}" "${CONNS_HEARTBEAT:=5s}" "${CONNS_HOLD:=10s}"
	: "${FANOUT_SUBS:=1000}" "${FANOUT_DURATION:=10s}"
	: "${ECHO_DURATION:=10s}" "${JOINS_DURATION:=10s}"
	: "${STORM_CLIENTS:=2000}"
fi
: "${STORM_ROOMS:=100}" "${STORM_TARGETS:=sample nopresence floor}" "${STORM_PORT:=17501}" "${STORM_TIMEOUT:=5m}" "${STORM_SAMPLE_ARGS:=}"
: "${SCENARIOS:=conns fanout echo joins joins-shared cluster-fanout cluster-room metrics-fanout metrics-echo history-fanout}"
: "${CLUSTER_ROOM_SUBS:=150}" "${CLUSTER_ROOM_RATE:=200}"
: "${CONNS_RATE:=1000}"    # connections opened per second
: "${CONNECT_RATE:=1000}"  # the same, for the other scenarios
: "${FANOUT_RATE:=10}"     # broadcasts per second
: "${ECHO_CONNS:=50}" "${JOINS_CONNS:=20}"
: "${JOINS_SHARED_CONNS:=100}" "${JOINS_TOPICS:=10}" # joins-shared: 10 members per topic at once
: "${HEARTBEAT:=30s}"      # fanout, echo, joins: as the JS client
: "${SOURCES:=8}"          # local addresses 127.0.0.2… to dial from
: "${REPEAT:=1}"
: "${CLUSTER_NODES:=3}"    # cluster-fanout: sample processes in the cluster
: "${CLUSTER_PORT:=17401}" # the first port tried for their cluster listeners
: "${RESULTS_NAME:=$mode}"  # results/<name>.md keeps this run beside latest.md
: "${PROFILE_DIR:=}" "${PROFILE_PERF:=0}" "${PROFILE_AFTER:=5}" "${PROFILE_SECONDS:=10}"
if [[ -n $PROFILE_DIR ]]; then
	mkdir -p "$PROFILE_DIR"
	PROFILE_DIR=$(cd "$PROFILE_DIR" && pwd)
	if [[ $PROFILE_PERF == 1 ]] && ! command -v perf >/dev/null; then
		echo "PROFILE_PERF=1 needs perf" >&2
		exit 2
	fi
fi

tmp=$(mktemp -d)
server_pids=()
load_pid=
scraper_pid=
# With PROFILE_DIR: the pprof address and the pid of each server running,
# by name.
declare -A pprof_addrs=() pprof_pids=()
profiler_pids=()

cleanup() {
	stop_scraper
	for pid in "${profiler_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	if [[ -n $load_pid ]]; then
		# phxload closes its connections on SIGTERM.
		kill -TERM "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	for pid in "${server_pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "building into $tmp"
go build -o "$tmp/" ./sample ./loadtest/cmd/floor ./loadtest/cmd/phxload ./loadtest/cmd/report
secret="loadtest-$(date +%s)-secret-key-base-0123456789"
cluster_secret="loadtest-$(date +%s)-cluster-secret-0123456789"

# start_server NAME CMD…: starts a server, waits for its "listening" line,
# adds its pid to server_pids and sets server_pid and server_url. With
# PROFILE_DIR, the server serves pprof on a port of its choosing, kept in
# pprof_addrs with its pid in pprof_pids.
start_server() {
	local name=$1 log=$tmp/$1.log addr pprof=()
	shift
	[[ -n $PROFILE_DIR ]] && pprof=(-pprof 127.0.0.1:0)
	"$@" "${pprof[@]}" 2>"$log" >/dev/null &
	server_pid=$!
	server_pids+=("$server_pid")
	for _ in $(seq 300); do
		if addr=$(grep -m1 -o 'msg=listening addr=http://[^ ]*' "$log"); then
			server_url=ws://${addr#msg=listening addr=http://}/socket/websocket
			if [[ -n $PROFILE_DIR ]]; then
				addr=$(grep -m1 -o 'msg=pprof addr=http://[^ ]*' "$log")
				pprof_addrs[$name]=${addr#msg=pprof addr=}
				pprof_pids[$name]=$server_pid
			fi
			return 0
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			echo "$name exited at start:" >&2
			cat "$log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "$name did not say it was listening" >&2
	return 1
}

# profile PREFIX NAME…: in the background, PROFILE_AFTER seconds from now,
# a CPU profile of each server named, PROFILE_SECONDS long, into
# PROFILE_DIR/PREFIX-NAME.pprof (or .perf.data); their pids in
# profiler_pids.
profile() {
	local prefix=$1 name
	shift
	for name in "$@"; do
		if [[ $PROFILE_PERF == 1 ]]; then
			(sleep "$PROFILE_AFTER" && exec perf record -q -F 999 -g -p "${pprof_pids[$name]}" \
				-o "$PROFILE_DIR/$prefix-$name.perf.data" -- sleep "$PROFILE_SECONDS" >/dev/null 2>&1) &
		else
			(sleep "$PROFILE_AFTER" && exec curl -fsS -o "$PROFILE_DIR/$prefix-$name.pprof" \
				"${pprof_addrs[$name]}profile?seconds=$PROFILE_SECONDS") &
		fi
		profiler_pids+=($!)
	done
}

wait_profiles() {
	local pid
	for pid in "${profiler_pids[@]}"; do
		wait "$pid" || echo "   a profile failed" >&2
	done
	profiler_pids=()
}

# stop_servers NAME…: SIGTERM to every server started, at once, then
# SIGKILL to those still running after 15 s; says what each log (NAME.log)
# warned about.
stop_servers() {
	local pid name log warns errs downs
	for pid in "${server_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for _ in $(seq 150); do
		local alive=0
		for pid in "${server_pids[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		[[ $alive == 1 ]] || break
		sleep 0.1
	done
	for pid in "${server_pids[@]}"; do
		if kill -KILL "$pid" 2>/dev/null; then
			echo "   pid $pid still running 15 s after SIGTERM: killed"
		fi
		wait "$pid" 2>/dev/null || true
	done
	server_pids=()
	for name in "$@"; do
		log=$tmp/$name.log
		warns=$(grep -c 'level=WARN' "$log" || true)
		errs=$(grep -c 'level=ERROR' "$log" || true)
		downs=$(grep -c 'msg="cluster: peer down"' "$log" || true)
		echo "   $name log: $(wc -l <"$log") lines, $warns warnings, $errs errors$([[ $downs == 0 ]] || echo ", $downs peers declared down")"
		grep -m5 'level=ERROR' "$log" | sed 's/^/   /' || true
		grep -m5 'msg="cluster: peer down"' "$log" | sed 's/^/   /' || true
		rm -f "$log"
	done
}

# scrape URL: GETs URL every second until killed, as a Prometheus
# scraping /metrics at a (short) one-second interval would.
scrape() {
	while curl -fsS -o /dev/null "$1"; do
		sleep 1
	done
	echo "   scraping $1 failed" >&2
}

stop_scraper() {
	if [[ -n $scraper_pid ]]; then
		kill "$scraper_pid" 2>/dev/null || true
		wait "$scraper_pid" 2>/dev/null || true
		scraper_pid=
	fi
}

# free_port N: the first port from N up that nothing on 127.0.0.1 listens
# on.
free_port() {
	local port=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# start_cluster SCENARIO: starts CLUSTER_NODES samples joined into one
# cluster on loopback and sets cluster_urls and cluster_pids (comma-
# separated, node 1 first) and cluster_names. phxload -cluster waits for
# every node to see the others up.
start_cluster() {
	local sc=$1 i ports=() peers= port=$CLUSTER_PORT urls=() pids=()
	for i in $(seq "$CLUSTER_NODES"); do
		port=$(free_port "$port")
		ports+=("$port")
		peers+=${peers:+,}127.0.0.1:$port
		port=$((port + 1))
	done
	cluster_names=()
	for i in $(seq "$CLUSTER_NODES"); do
		start_server "node$i" "$tmp/sample" -node "node$i" -addr 127.0.0.1:0 \
			-cluster-addr "127.0.0.1:${ports[i - 1]}" -peers "$peers" -cluster-secret "$cluster_secret" \
			-db "$tmp/chat-$sc-node$i.db" -secret "$secret"
		urls+=("$server_url")
		pids+=("$server_pid")
		cluster_names+=("node$i")
	done
	cluster_urls=$(IFS=,; echo "${urls[*]}")
	cluster_pids=$(IFS=,; echo "${pids[*]}")
}

# run_one SCENARIO TARGET RESULT-FILE PHXLOAD-FLAGS…: TARGET is sample
# or floor, or for cluster-fanout cluster (CLUSTER_NODES samples) or
# single (one sample, as in fanout).
run_one() {
	local sc=$1 target=$2 result=$3 auth=() url pid logs=("$2") extra=() load_sc=$1
	shift 3
	case $target in
	sample | single)
		start_server "$target" "$tmp/sample" -addr 127.0.0.1:0 -db "$tmp/chat-$sc.db" -secret "$secret"
		url=$server_url pid=$server_pid
		auth=(-token-secret "$secret")
		;;
	metrics | nometrics)
		local off=()
		[[ $target == nometrics ]] && off=(-metrics=false)
		start_server "$target" "$tmp/sample" -addr 127.0.0.1:0 -db "$tmp/chat-$sc.db" -secret "$secret" "${off[@]}"
		url=$server_url pid=$server_pid
		auth=(-token-secret "$secret")
		if [[ $target == metrics ]]; then
			local base=${server_url#ws://}
			scrape "http://${base%%/*}/metrics" &
			scraper_pid=$!
		fi
		;;
	history | nohistory)
		local keep=()
		[[ $target == history ]] && keep=(-bench-history 1000)
		start_server "$target" "$tmp/sample" -addr 127.0.0.1:0 -db "$tmp/chat-$sc.db" -secret "$secret" "${keep[@]}"
		url=$server_url pid=$server_pid
		auth=(-token-secret "$secret")
		;;
	floor)
		start_server floor "$tmp/floor" -addr 127.0.0.1:0
		url=$server_url pid=$server_pid
		;;
	cluster)
		start_cluster "$sc"
		url=$cluster_urls pid=$cluster_pids logs=("${cluster_names[@]}")
		auth=(-token-secret "$secret")
		extra=(-cluster)
		;;
	esac
	case $sc in
	cluster-fanout | cluster-room | metrics-fanout | history-fanout) load_sc=fanout ;;
	metrics-echo) load_sc=echo ;;
	joins-shared) load_sc=joins ;;
	esac
	echo "== $sc against $target ($url, pid $pid)"
	# In the background, so that a signal to this script is handled at
	# once rather than after the run.
	"$tmp/phxload" -url "$url" -pid "$pid" -label "$target" -scenario "$load_sc" \
		-sources "$SOURCES" -json "$result" "${auth[@]}" "${extra[@]}" "$@" &
	load_pid=$!
	if [[ -n $PROFILE_DIR ]]; then
		local base=${result##*/}
		profile "${base%.json}" "${logs[@]}"
	fi
	wait "$load_pid" || echo "   phxload failed" >&2
	load_pid=
	wait_profiles
	stop_scraper
	stop_servers "${logs[@]}"
}

# run_storm TARGET RESULT-FILE: the storm against TARGET (sample,
# nopresence or floor), restarted on a fixed port once phxload is ready.
run_storm() {
	local target=$1 result=$2 port cmd=() auth=() extra=() fifo=$tmp/storm.fifo log=$tmp/phxload-storm.log ready=0
	local base=${result##*/}
	port=$(free_port "$STORM_PORT")
	case $target in
	sample | nopresence)
		# shellcheck disable=SC2206 # words on purpose
		cmd=("$tmp/sample" -addr "127.0.0.1:$port" -db "$tmp/chat-storm.db" -secret "$secret" $STORM_SAMPLE_ARGS)
		auth=(-token-secret "$secret")
		if [[ $target == sample ]]; then extra=(-presence); fi
		;;
	floor) cmd=("$tmp/floor" -addr "127.0.0.1:$port") ;;
	esac
	start_server "$target" "${cmd[@]}"
	echo "== storm against $target ($server_url, pid $server_pid)"
	rm -f "$fifo"
	mkfifo "$fifo"
	"$tmp/phxload" -url "$server_url" -pid "$server_pid" -label "$target" -scenario storm \
		-n "$STORM_CLIENTS" -rooms "$STORM_ROOMS" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT" \
		-sources "$SOURCES" -timeout "$STORM_TIMEOUT" -json "$result" "${auth[@]}" "${extra[@]}" <"$fifo" 2>"$log" &
	load_pid=$!
	# Read and write: opening it never waits for phxload, and phxload
	# reads the end of the file once it is closed.
	exec 4<>"$fifo"
	while kill -0 "$load_pid" 2>/dev/null; do
		if grep -q 'storm: ready' "$log"; then
			ready=1
			break
		fi
		sleep 0.05
	done
	if [[ $ready == 1 ]]; then
		stop_servers "$target"
		start_server "$target" "${cmd[@]}"
		echo "$server_pid" >&4
		echo "   restarted: pid $server_pid"
		if [[ -n $PROFILE_DIR ]]; then PROFILE_AFTER=0 profile "${base%.json}" "$target"; fi
	fi
	exec 4>&-
	wait "$load_pid" || echo "   phxload failed" >&2
	load_pid=
	sed 's/^/   /' "$log"
	wait_profiles
	stop_servers "$target"
}

if [[ " $SCENARIOS " == *" storm "* ]]; then
	# The sample holds connections up to the open-file limit less 256.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	if (($(ulimit -n) < STORM_CLIENTS + 512)); then
		echo "storm: $STORM_CLIENTS clients need an open-file limit of $((STORM_CLIENTS + 512)), not $(ulimit -n)" >&2
		exit 2
	fi
fi

for sc in $SCENARIOS; do
	case $sc in
	conns) args=(-steps "$CONNS_STEPS" -rate "$CONNS_RATE" -heartbeat "$CONNS_HEARTBEAT" -hold "$CONNS_HOLD") ;;
	fanout | cluster-fanout | metrics-fanout | history-fanout) args=(-subs "$FANOUT_SUBS" -rate "$FANOUT_RATE" -duration "$FANOUT_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	cluster-room) args=(-subs "$CLUSTER_ROOM_SUBS" -rate "$CLUSTER_ROOM_RATE" -duration "$FANOUT_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	echo | metrics-echo) args=(-conns "$ECHO_CONNS" -duration "$ECHO_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	joins) args=(-conns "$JOINS_CONNS" -duration "$JOINS_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	joins-shared) args=(-conns "$JOINS_SHARED_CONNS" -topics "$JOINS_TOPICS" -duration "$JOINS_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	storm) args=() ;;
	*)
		echo "unknown scenario $sc" >&2
		exit 2
		;;
	esac
	targets="sample floor"
	[[ $sc == cluster-fanout || $sc == cluster-room ]] && targets="cluster single"
	[[ $sc == metrics-* ]] && targets="metrics nometrics"
	[[ $sc == history-* ]] && targets="history nohistory"
	[[ $sc == storm ]] && targets=$STORM_TARGETS
	for k in $(seq "$REPEAT"); do
		suffix=
		[[ $REPEAT == 1 ]] || suffix=-$k
		for target in $targets; do
			if [[ $sc == storm ]]; then
				run_storm "$target" "$tmp/$sc-$target$suffix.json"
			else
				run_one "$sc" "$target" "$tmp/$sc-$target$suffix.json" "${args[@]}"
			fi
		done
	done
done

out=loadtest/results
mkdir -p "$out"
"$tmp/report" -in "$tmp" -mode "$mode" -md "$out/latest.md" -json "$out/latest.json"
cp "$out/latest.md" "$out/$RESULTS_NAME.md"
cp "$out/latest.json" "$out/$RESULTS_NAME.json"
echo
cat "$out/latest.md"

#!/usr/bin/env bash
# Runs every load scenario against the sample's bench channel and against
# the bare-gws floor, with the same parameters, one server at a time (a
# fresh one per run), on 127.0.0.1, and writes loadtest/results/latest.md
# and latest.json (also kept as quick.* or full.*, or as $RESULTS_NAME.*).
#
#   bash loadtest/run-matrix.sh          # quick: a few minutes
#   FULL=1 bash loadtest/run-matrix.sh   # the budgets of DESIGN.md
#
# Every parameter below can be set from the environment, e.g.
# SCENARIOS="fanout" FANOUT_SUBS=5000 bash loadtest/run-matrix.sh.
# REPEAT=3 runs each pair three times, sample and floor alternating, and
# the table shows medians: on a shared machine, a verdict within ten per
# cent of its budget is not settled by one run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ ${FULL:-0} == 1 ]]; then
	mode=full
	: "${CONNS_STEPS:=1000,5000,10000,19000}" "${CONNS_HEARTBEAT:=30s}" "${CONNS_HOLD:=35s}"
	: "${FANOUT_SUBS:=10000}" "${FANOUT_DURATION:=30s}"
	: "${ECHO_DURATION:=30s}" "${JOINS_DURATION:=30s}"
else
	mode=quick
	# Heartbeats every 5 s so that each connection sends a few in the hold.
	: "${CONNS_STEPS:=1000,2000}" "${CONNS_HEARTBEAT:=5s}" "${CONNS_HOLD:=10s}"
	: "${FANOUT_SUBS:=1000}" "${FANOUT_DURATION:=10s}"
	: "${ECHO_DURATION:=10s}" "${JOINS_DURATION:=10s}"
fi
: "${SCENARIOS:=conns fanout echo joins}"
: "${CONNS_RATE:=1000}"    # connections opened per second
: "${CONNECT_RATE:=1000}"  # the same, for the other scenarios
: "${FANOUT_RATE:=10}"     # broadcasts per second
: "${ECHO_CONNS:=50}" "${JOINS_CONNS:=20}"
: "${HEARTBEAT:=30s}"      # fanout, echo, joins: as the JS client
: "${SOURCES:=8}"          # local addresses 127.0.0.2… to dial from
: "${REPEAT:=1}"
: "${RESULTS_NAME:=$mode}"  # results/<name>.md keeps this run beside latest.md

tmp=$(mktemp -d)
server_pid=
load_pid=

cleanup() {
	if [[ -n $load_pid ]]; then
		# phxload closes its connections on SIGTERM.
		kill -TERM "$load_pid" 2>/dev/null || true
		wait "$load_pid" 2>/dev/null || true
	fi
	if [[ -n $server_pid ]]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "building into $tmp"
go build -o "$tmp/" ./sample ./loadtest/cmd/floor ./loadtest/cmd/phxload ./loadtest/cmd/report
secret="loadtest-$(date +%s)-secret-key-base-0123456789"

# start_server NAME CMD…: starts a server, waits for its "listening" line,
# and sets server_pid and server_url.
start_server() {
	local name=$1 log=$tmp/$1.log addr
	shift
	"$@" 2>"$log" >/dev/null &
	server_pid=$!
	for _ in $(seq 300); do
		if addr=$(grep -m1 -o 'msg=listening addr=http://[^ ]*' "$log"); then
			server_url=ws://${addr#msg=listening addr=http://}/socket/websocket
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

# stop_server NAME: SIGTERM, then SIGKILL after 15 s; says what the log
# warned about.
stop_server() {
	local name=$1 log=$tmp/$1.log
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 150); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	local warns errs
	warns=$(grep -c 'level=WARN' "$log" || true)
	errs=$(grep -c 'level=ERROR' "$log" || true)
	echo "   $name log: $(wc -l <"$log") lines, $warns warnings, $errs errors"
	grep -m5 'level=ERROR' "$log" | sed 's/^/   /' || true
	rm -f "$log"
}

# run_one SCENARIO TARGET RESULT-FILE PHXLOAD-FLAGS…
run_one() {
	local sc=$1 target=$2 result=$3 auth=()
	shift 3
	if [[ $target == sample ]]; then
		start_server sample "$tmp/sample" -addr 127.0.0.1:0 -db "$tmp/chat-$sc.db" -secret "$secret"
		auth=(-token-secret "$secret")
	else
		start_server floor "$tmp/floor" -addr 127.0.0.1:0
	fi
	echo "== $sc against $target ($server_url, pid $server_pid)"
	# In the background, so that a signal to this script is handled at
	# once rather than after the run.
	"$tmp/phxload" -url "$server_url" -pid "$server_pid" -label "$target" -scenario "$sc" \
		-sources "$SOURCES" -json "$result" "${auth[@]}" "$@" &
	load_pid=$!
	wait "$load_pid" || echo "   phxload failed" >&2
	load_pid=
	stop_server "$target"
}

for sc in $SCENARIOS; do
	case $sc in
	conns) args=(-steps "$CONNS_STEPS" -rate "$CONNS_RATE" -heartbeat "$CONNS_HEARTBEAT" -hold "$CONNS_HOLD") ;;
	fanout) args=(-subs "$FANOUT_SUBS" -rate "$FANOUT_RATE" -duration "$FANOUT_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	echo) args=(-conns "$ECHO_CONNS" -duration "$ECHO_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	joins) args=(-conns "$JOINS_CONNS" -duration "$JOINS_DURATION" -connect-rate "$CONNECT_RATE" -heartbeat "$HEARTBEAT") ;;
	*)
		echo "unknown scenario $sc" >&2
		exit 2
		;;
	esac
	for k in $(seq "$REPEAT"); do
		suffix=
		[[ $REPEAT == 1 ]] || suffix=-$k
		for target in sample floor; do
			run_one "$sc" "$target" "$tmp/$sc-$target$suffix.json" "${args[@]}"
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

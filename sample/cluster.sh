#!/usr/bin/env bash
# Three sample nodes on loopback, one cluster: pages on
# http://127.0.0.1:4001, :4002 and :4003 chat together and see who is
# online on every node. Ctrl-C stops all three. Extra arguments go to
# every node (e.g. -db ./other.db).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/sample ./sample
# Every node signs and checks the same tokens (without SECRET_KEY_BASE,
# with the secret kept beside their shared database), and the same frames.
export CLUSTER_SECRET="${CLUSTER_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export PEERS="127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
	bin/sample -node "node$i" -addr "127.0.0.1:400$i" -cluster-addr "127.0.0.1:700$i" "$@" &
	pids+=($!)
done
wait

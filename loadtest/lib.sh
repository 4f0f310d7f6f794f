# Shell functions the load scripts share: source it.

# build_rev DIR REV PKG…: builds the packages PKG… of git revision REV
# (. is the working tree) into DIR/, from a copy of the revision's tree
# next to DIR.
build_rev() {
	local dir=$1 rev=$2 src=$root
	shift 2
	if [[ $rev != . ]]; then
		src=$dir.src
		mkdir -p "$src"
		git -C "$root" archive "$rev" | tar -x -C "$src"
	fi
	echo "building $rev"
	(cd "$src" && go build -o "$dir/" "$@")
}

# socket_url LOG PID: waits up to 30 s for the server PID, which logs to
# LOG, to say where it listens, and prints its WebSocket URL; fails with
# the log on stderr if it exits first or says nothing.
socket_url() {
	local log=$1 pid=$2 addr
	for _ in $(seq 300); do
		if addr=$(grep -m1 -o 'msg=listening addr=http://[^ ]*' "$log"); then
			echo "ws://${addr#msg=listening addr=http://}/socket/websocket"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "the server did not start:" >&2
	cat "$log" >&2
	return 1
}

#!/bin/sh
# The demo: pools of warm sandboxes (the C handler, and the Python handler
# with the host's /usr bound read-only) answering HTTP through the pipeline
# and the gateway; faas-init alone serving the C and Python handlers; then a
# latency table from faas-bench.
#
#   examples/demo.sh [BUILD_DIR]      (make demo runs it)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
bin="$build/bin"
py=/usr/bin/python3

work=$(mktemp -d "${TMPDIR:-/tmp}/faas-demo.XXXXXX")
# The demo's own state and run dirs: it never touches /var/lib/faas.
export FAAS_STATE_DIR="$work/state" FAAS_RUN_DIR="$work/run"
pids=""
cleanup() {
	# Only the processes this script started, by PID.
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	# Every sandbox, fork, mount and cgroup of the demo's pool.
	"$bin/faas-pool" pool rm hello hello-py >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_for FILE: bounded polling for a file another process creates.
wait_for() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ "$i" -le 500 ] || { echo "demo: timed out waiting for $1" >&2; exit 1; }
		sleep 0.01
	done
}

serve() { # serve NAME HANDLER...: a warm faas-init and a gateway in front of it
	name=$1
	shift
	"$bin/faas-init" --listen "$work/$name.sock" --loop --notify-fd 3 -- "$@" \
		3>"$work/$name.ready" 2>>"$work/$name.log" &
	pids="$pids $!"
	wait_for "$work/$name.ready"
	"$py" "$here/gateway.py" "$work/$name.sock" "$work/$name.port" &
	pids="$pids $!"
	wait_for "$work/$name.port"
	port=$(cat "$work/$name.port")
}

step "a pool of warm, isolated sandboxes (native backend) from a busybox rootfs"
"$here/make-rootfs.sh" "$work/rootfs" "$build/examples/hello-c"
echo "\$ faas-pool template add hello --rootfs ROOTFS --cmd /hello-c"
"$bin/faas-pool" template add hello --rootfs "$work/rootfs" --cmd /hello-c >/dev/null
echo "\$ faas-pool warm hello --size 4"
"$bin/faas-pool" warm hello --size 4 | jq -c .pool
# The Python handler runs the host's python3: /usr bound read-only (on a
# usrmerged host /lib and /lib64 are links into it; otherwise bound too).
pybinds="--bind-ro /usr"
for d in lib lib64; do
	if [ -d "/$d" ] && [ ! -L "/$d" ]; then pybinds="$pybinds --bind-ro /$d"; fi
done
echo "\$ faas-pool template add hello-py --rootfs ROOTFS --cmd /hello.py $pybinds"
# shellcheck disable=SC2086 # pybinds is words
"$bin/faas-pool" template add hello-py --rootfs "$work/rootfs" --cmd /hello.py $pybinds >/dev/null
echo "\$ faas-pool warm hello-py --size 2"
"$bin/faas-pool" warm hello-py --size 2 | jq -c .pool

step "the pipeline: acquire a warm sandbox, fork its root, invoke the handler"
for pool in hello hello-py; do
	echo "\$ faas-pool acquire $pool | faas-fork --overlay | faas-invoke --http GET / --release"
	for i in 1 2 3; do
		"$bin/faas-pool" acquire "$pool" | "$bin/faas-fork" --overlay |
			"$bin/faas-invoke" --http GET / --release |
			jq -c '{status: .invoke.status, body: .invoke.body, start: .invoke.start, fork: .fork.method, timing}'
	done
done

step "the gateway: faas-invoke serve hands each TCP connection to a warm sandbox"
"$bin/faas-invoke" serve --listen 127.0.0.1:0 --pool hello --max-inflight 4 >"$work/serve.jsonl" &
gw=$!
pids="$pids $gw"
i=0
until [ -s "$work/serve.jsonl" ]; do
	i=$((i + 1))
	[ "$i" -le 500 ] || { echo "demo: the gateway did not start" >&2; exit 1; }
	sleep 0.01
done
port=$(head -1 "$work/serve.jsonl" | jq -r '.serve.listen | split(":")[1]')
echo "\$ curl -s http://127.0.0.1:$port/"
curl -sS --max-time 5 "http://127.0.0.1:$port/"
curl -sS --max-time 5 -o /dev/null -w 'second request: HTTP %{http_code} in %{time_total}s\n' \
	"http://127.0.0.1:$port/again"
kill -TERM "$gw" && wait "$gw" || true
echo "\$ faas-pool status --table"
"$bin/faas-pool" status --table

step "a warm faas-init with the C handler, behind a gateway on 127.0.0.1"
serve c "$build/examples/hello-c"
echo "\$ curl -s http://127.0.0.1:$port/"
curl -sS --max-time 5 "http://127.0.0.1:$port/"
curl -sS --max-time 5 -o /dev/null -w 'second request: HTTP %{http_code} in %{time_total}s\n' \
	"http://127.0.0.1:$port/again"

step "the same with the Python handler (BaseHTTPRequestHandler over FAAS_CLIENT_FD)"
serve py "$py" "$here/handlers/hello.py"
echo "\$ curl -s http://127.0.0.1:$port/"
curl -sS --max-time 5 "http://127.0.0.1:$port/"

step "faas-init's own view of one invocation (FAAS_INIT_TRACE=1)"
"$py" - "$bin/faas-init" "$build/examples/hello-c" "$work" <<'PY'
import os, socket, subprocess, sys
init, handler, work = sys.argv[1], sys.argv[2], sys.argv[3]
a, b = socket.socketpair()
ctl_path = os.path.join(work, "trace.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(ctl_path); srv.listen(1)
env = dict(os.environ, FAAS_INIT_TRACE="1")
p = subprocess.Popen([init, "--connect", ctl_path, "--", handler], env=env,
                     stderr=subprocess.PIPE, text=True)
conn, _ = srv.accept()
socket.send_fds(conn, [b'{"request_id":"trace-1"}'], [b.fileno()])
b.close(); conn.close(); os.unlink(ctl_path)
a.sendall(b"GET /trace HTTP/1.0\r\n\r\n")
print(a.makefile("rb").read().decode().splitlines()[0])
p.wait()
print(p.stderr.read().strip())
PY

step "latency: faas-init against the inits people use today (faas-bench run init)"
"$bin/faas-bench" run init --iterations 300 --warmup 30 --table

#!/usr/bin/env bats
# faas-init: every mode (connect, listen, loop, socket activation, PID 1,
# subreaper), every documented error, and the example handlers end to end.

load helpers/common

HELPERS="$BATS_TEST_DIRNAME/helpers"
HANDLERS="$FAAS_SOURCE_DIR/examples/handlers"

setup() {
	faas_setup
	SOCK="$FAAS_TMP/control.sock"
	SENDER_PID=
}
teardown() { faas_teardown; }

# sender ARGS...: helpers/fd-sender.py in the background, the sending side in
# the original design's shape (stdout in $FAAS_TMP/sender.out).
sender() {
	"$PYTHON" "$HELPERS/fd-sender.py" "$@" >"$FAAS_TMP/sender.out" 2>"$FAAS_TMP/sender.err" 3>&- &
	SENDER_PID=$!
	faas_track_pid "$SENDER_PID"
}

# serve_fd ARGS...: a sender serving $SOCK, which faas-init connects to.
serve_fd() {
	sender --serve "$SOCK" "$@"
	retry 500 0.01 test -S "$SOCK"
}

# sender_done: waits for the sender; what it read back is in $sent.
sender_done() {
	local rc=0
	wait "$SENDER_PID" || rc=$?
	sent=$(cat "$FAAS_TMP/sender.out")
	printf '# sender exited %s; read back:\n%s\n# sender stderr:\n%s\n' \
		"$rc" "$sent" "$(cat "$FAAS_TMP/sender.err")" >&2
	return "$rc"
}

# init_bg ARGS...: faas-init in the background, $INIT_PID.
init_bg() {
	"$FAAS_INIT" "$@" >"$FAAS_TMP/init.out" 2>"$FAAS_TMP/init.err" 3>&- &
	INIT_PID=$!
	faas_track_pid "$INIT_PID"
}

# pidns_bg ARGS...: faas-init as PID 1 of a new pid namespace, in the
# background; $INIT_PID is unshare's (killing it kills the namespace).
pidns_bg() {
	unshare --pid --fork --kill-child --mount-proc "$FAAS_INIT" "$@" \
		>"$FAAS_TMP/init.out" 2>"$FAAS_TMP/init.err" 3>&- &
	INIT_PID=$!
	faas_track_pid "$INIT_PID"
}

# exited PID: PID has exited (is gone or a zombie).
exited() { [ ! -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" = Z ]; }

# init_done: waits (bounded) for the background faas-init; $init_status.
init_done() {
	init_status=0
	retry 3000 0.01 exited "$INIT_PID"
	wait "$INIT_PID" || init_status=$?
	printf '# faas-init exited %s; stderr:\n%s\n' "$init_status" "$(cat "$FAAS_TMP/init.err")" >&2
}

# child_of PID: the one child of PID (polled until it exists).
child_of() {
	local c
	c=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || return 1
	c=${c%% *}
	[ -n "$c" ] && echo "$c"
}

# A handler printing what faas-init set, on the client connection.
ENV_HANDLER='printf "fd=%s fds=%s rid=%s deadline=%s lfds=%s lpid=%s names=%s\n" \
	"$FAAS_CLIENT_FD" "$FAAS_CLIENT_FDS" "${FAAS_REQUEST_ID-unset}" "${FAAS_DEADLINE_MS-unset}" \
	"${LISTEN_FDS-unset}" "${LISTEN_PID-unset}" "${LISTEN_FDNAMES-unset}" >&"$FAAS_CLIENT_FD"'

# ---- the binary ----

@test "faas-init: a static, stripped binary of at most 64 KiB with no C++ runtime" {
	local size
	size=$(stat -c %s "$FAAS_INIT")
	echo "# size: $size bytes" >&2
	[ "$size" -le 65536 ]
	if command -v file >/dev/null; then
		run file -L "$FAAS_INIT"
		echo "# $output" >&2
		[[ "$output" == *"statically linked"* ]]
		[[ "$output" != *"not stripped"* ]]
	fi
	run ldd "$FAAS_INIT"
	[[ "$output" == *"not a dynamic executable"* ]] || [[ "$output" == *"statically linked"* ]]
	run grep -c 'libstdc++\|GLIBCXX\|__cxa_throw' "$FAAS_INIT"
	[ "$output" = 0 ]
}

@test "faas-init: --help and --version exit 0 on stdout" {
	run_faas "$FAAS_INIT" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: faas-init"* ]]
	[[ "$output" == *--version* ]]
	[ -z "$stderr" ]
	run_faas "$FAAS_INIT" --version
	[ "$status" -eq 0 ]
	[ "$output" = "faas-init $(sed -n 's/^project(faaskit VERSION \([0-9.]*\).*/\1/p' "$FAAS_SOURCE_DIR/CMakeLists.txt")" ]
}

@test "faas-init: usage errors exit 64 naming the flag on one stderr line" {
	run_faas -64 "$FAAS_INIT" --no-such-flag -- true
	[[ "$stderr" == "faas-init: "*"--no-such-flag"* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[ -z "$output" ]
	run_faas -64 "$FAAS_INIT"
	[[ "$stderr" == "faas-init: command"*missing* ]]
	run_faas -64 "$FAAS_INIT" --connect "$SOCK" --
	run_faas -64 "$FAAS_INIT" --loop --connect "$SOCK" -- true
	[[ "$stderr" == *--loop* && "$stderr" == *--connect* ]]
	run_faas -64 "$FAAS_INIT" --connect "$SOCK" --listen "$SOCK" -- true
	[[ "$stderr" == *--connect* && "$stderr" == *--listen* ]]
	run_faas -64 "$FAAS_INIT" --loop -- true
	[[ "$stderr" == *"--loop"*"requires --listen"* ]]
	run_faas -64 "$FAAS_INIT" --fds 0 -- true
	[[ "$stderr" == *--fds* ]]
	run_faas -64 "$FAAS_INIT" --fds 17 -- true
	run_faas -64 "$FAAS_INIT" --fds two -- true
	run_faas -64 "$FAAS_INIT" --notify-fd 57 -- true
	[[ "$stderr" == *--notify-fd*57* ]]
	run_faas -64 "$FAAS_INIT" --connect
	[[ "$stderr" == *--connect*"requires a value"* ]]
	run_faas -64 "$FAAS_INIT" --loop=yes --listen "$SOCK" -- true
	[[ "$stderr" == *--loop*"takes no value"* ]]
	run_faas -64 "$FAAS_INIT" --listen-fd 5 -- true 5</dev/null
	[[ "$stderr" == *--listen-fd*"not a socket"* ]]
	run_faas -64 "$FAAS_INIT" --listen-fd 57 -- true
	[[ "$stderr" == *--listen-fd*57* ]]
	run_faas -64 "$FAAS_INIT" --listen-fd 2 -- true
	[[ "$stderr" == *--listen-fd*"3 or more"* ]]
	run_faas -64 "$PYTHON" -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX)
os.dup2(s.fileno(), 5)
os.set_inheritable(5, True)
os.execv(sys.argv[1], sys.argv[1:])' "$FAAS_INIT" --listen-fd 5 -- true
	[[ "$stderr" == *--listen-fd*"not listening"* ]]
	run_faas -64 "$FAAS_INIT" --listen-fd 0 --listen "$SOCK" -- true
	run_faas -64 "$FAAS_INIT" --listen "$SOCK" --listen-fd 5 -- true 5</dev/null
	[ ! -e "$SOCK" ]
}

@test "faas-init: a missing control socket exits 69 naming the path" {
	run_faas -69 "$FAAS_INIT" --connect "$FAAS_TMP/nowhere.sock" -- true
	[[ "$stderr" == "faas-init: connect"*"$FAAS_TMP/nowhere.sock"*"No such file or directory" ]]
	FAAS_CONTROL_SOCK="$FAAS_TMP/env.sock" run_faas -69 "$FAAS_INIT" -- true
	[[ "$stderr" == *"$FAAS_TMP/env.sock"* ]]
	if [ ! -e /control.sock ]; then
		FAAS_CONTROL_SOCK='' run_faas -69 "$FAAS_INIT" -- true
		[[ "$stderr" == *"/control.sock"* ]]
	fi
}

# ---- connect mode, the original design's server ----

@test "faas-init: connect mode receives a socketpair end and execs in place" {
	requires python3
	serve_fd --request ''
	# Stale values in the environment must not reach the handler.
	LISTEN_PID=1 LISTEN_FDS=9 FAAS_REQUEST_ID=stale FAAS_CONTROL_SOCK="$SOCK" \
		run_faas timeout 30 "$FAAS_INIT" -- sh -c "$ENV_HANDLER"
	[ "$status" -eq 0 ]
	sender_done
	[[ "$sent" =~ ^fd=([0-9]+)\ fds=([0-9]+)\ rid=unset\ deadline=unset\ lfds=unset\ lpid=unset\ names=unset$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	[ "${BASH_REMATCH[1]}" -ge 3 ]
}

@test "faas-init: connect mode passes an accepted TCP connection from curl" {
	requires python3 curl
	serve_fd --send tcp --port-file "$FAAS_TMP/port"
	curl -sS --max-time 20 "http://127.0.0.1:$(cat "$FAAS_TMP/port")/x" >"$FAAS_TMP/curl.out" 3>&- &
	local curl_pid=$!
	faas_track_pid "$curl_pid"
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- \
		sh -c 'while IFS= read -r l; do [ -n "${l%?}" ] || break; done <&"$FAAS_CLIENT_FD"
			b="fd $FAAS_CLIENT_FD"
			printf "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s\n" $((${#b} + 1)) "$b" >&"$FAAS_CLIENT_FD"'
	[ "$status" -eq 0 ]
	wait "$curl_pid"
	sender_done
	[[ "$(cat "$FAAS_TMP/curl.out")" =~ ^fd\ [0-9]+$ ]]
}

@test "faas-init: the payload sets FAAS_REQUEST_ID and FAAS_DEADLINE_MS" {
	requires python3
	serve_fd --request '' --payload '{"request_id": "req \"42\"", "deadline_ms": 1500, "other": [1]}'
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- sh -c "$ENV_HANDLER"
	# A nested value is not a flat object: refused as a whole.
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"payload"*"not a flat JSON object"* ]]
	sender_done
	# A duplicate key means one thing to a JSON library, another here.
	serve_fd --payload '{"root":"/", "request_id":"x", "root":"/tmp"}'
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == *"payload"*"each key once"* ]]
	sender_done

	serve_fd --request '' --payload '{"request_id": "req \"42\"", "deadline_ms": 1500, "other": true}'
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- sh -c "$ENV_HANDLER"
	[ "$status" -eq 0 ]
	sender_done
	[[ "$sent" == *' rid=req "42" deadline=1500 '* ]]
}

@test "faas-init: bad payload values exit 65 naming the key" {
	requires python3
	serve_fd --payload '{"root":"relative/dir"}'
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == *"root"*"relative/dir"*"not an absolute path"* ]]
	sender_done
	serve_fd --payload '{"root":""}'
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == *"root"*"not an absolute path"* ]]
	sender_done
	serve_fd --payload '{"deadline_ms":"soon"}'
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == *"deadline_ms"*soon* ]]
	sender_done
	serve_fd --fds 2 --payload '{"names":"a:b:c"}'
	run_faas -65 timeout 30 "$FAAS_INIT" --fds 2 --listen-fds --connect "$SOCK" -- true
	[[ "$stderr" == *"names"*"3 names for 2 file descriptors"* ]]
	sender_done
}

@test "faas-init: every fd but 0, 1, 2 and the client is closed; the client is blocking" {
	requires python3
	serve_fd --request ''
	# fd 7 is inherited without FD_CLOEXEC; the handler must not see it. The
	# handler probes fds with fstat, which opens none of its own.
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- "$PYTHON" -S -c '
import fcntl, os
fd = int(os.environ["FAAS_CLIENT_FD"])
open_fds = []
for i in range(1024):
    try:
        os.fstat(i)
        open_fds.append(str(i))
    except OSError:
        pass
blocking = not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
os.write(fd, ("%d %s %s\n" % (fd, " ".join(open_fds), blocking)).encode())' 7</dev/null
	[ "$status" -eq 0 ]
	sender_done
	[[ "$sent" =~ ^([0-9]+)\ 0\ 1\ 2\ ([0-9]+)\ True$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
}

@test "faas-init: --fds 2 passes both, FAAS_CLIENT_FDS lists them; a wrong count exits 65" {
	requires python3
	serve_fd --fds 2 --request ''
	run_faas timeout 30 "$FAAS_INIT" --fds 2 --connect "$SOCK" -- sh -c "$ENV_HANDLER"
	[ "$status" -eq 0 ]
	sender_done
	[[ "$sent" =~ ^fd=([0-9]+)\ fds=([0-9]+),([0-9]+)\  ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]

	serve_fd --fds 1
	run_faas -65 timeout 30 "$FAAS_INIT" --fds 2 --connect "$SOCK" -- true
	[[ "$stderr" == *"expected 2 file descriptors, got 1"* ]]
	sender_done
	serve_fd --fds 2
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == *"expected 1 file descriptor, got 2"* ]]
	sender_done
}

@test "faas-init: a message without an fd exits 65" {
	requires python3
	serve_fd --send none
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" == "faas-init: receive"*"no file descriptor" ]]
	sender_done
}

@test "faas-init: a received fd that is not a socket (a pipe) exits 65 naming it" {
	requires python3
	serve_fd --send pipe
	run_faas -65 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- true
	[[ "$stderr" =~ "faas-init: received file descriptor 1 of 1 (fd "[0-9]+"): a pipe, not a socket" ]]
	sender_done
}

@test "faas-init: exec of a missing command exits 127, a non-executable one 126, naming it" {
	requires python3
	serve_fd
	run_faas -127 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- no-such-handler-xyz arg
	[[ "$stderr" == "faas-init: exec \`no-such-handler-xyz\`: No such file or directory" ]]
	sender_done
	printf '#!/bin/sh\nexit 0\n' >"$FAAS_TMP/not-executable"
	chmod 644 "$FAAS_TMP/not-executable"
	serve_fd
	run_faas -126 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- "$FAAS_TMP/not-executable"
	[[ "$stderr" == *"exec \`$FAAS_TMP/not-executable\`: Permission denied" ]]
	sender_done
}

@test "faas-init: the handler's exit status passes through in chain-load mode" {
	requires python3
	serve_fd
	run_faas -7 timeout 30 "$FAAS_INIT" --connect "$SOCK" -- sh -c 'exit 7'
	sender_done
}

@test "faas-init: FAAS_INIT_TRACE=1 prints one JSON line of phase timings" {
	requires python3 jq
	serve_fd --request ''
	FAAS_INIT_TRACE=1 run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- sh -c "$ENV_HANDLER"
	[ "$status" -eq 0 ]
	sender_done
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	jq -e '.faas_init | .mode == "connect" and (.pid | type == "number")
		and .connect_us >= 0 and .recv_us >= 0 and .setup_us >= 0
		and .total_us >= .connect_us + .recv_us' <<<"$stderr"
}

# ---- listen mode, readiness, socket activation ----

@test "faas-init: --listen accepts one connection; --notify-fd says when it listens" {
	requires python3
	init_bg --listen "$SOCK" --notify-fd 5 -- sh -c "$ENV_HANDLER"' && ls /proc/$$/fd/5 2>/dev/null; exit 0' \
		5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	[ "$(od -An -c "$FAAS_TMP/ready" | tr -d ' ')" = '\n' ]
	[ -S "$SOCK" ]
	sender --connect "$SOCK" --request '' --payload '{"request_id":"L1"}'
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	[[ "$sent" == "fd="*" rid=L1 "* ]]
	[ ! -s "$FAAS_TMP/init.out" ] # the notify fd was closed before exec
	# The socket is gone once its one connection is accepted.
	[ ! -e "$SOCK" ]
}

@test "faas-init: --listen-fd serves a socket its caller made, and a client that connected before it ran" {
	requires python3
	# The caller binds and listens; faas-init starts only once a client has
	# connected (a pending connection makes the listening socket readable).
	"$PYTHON" -c 'import os, select, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
os.dup2(s.fileno(), 7)
os.set_inheritable(7, True)
if not select.select([s], [], [], 60)[0]:
    sys.exit("no client")
os.execv(sys.argv[2], sys.argv[2:])' "$SOCK" "$FAAS_INIT" --listen-fd 7 --loop -- sh -c 'echo ok >&"$FAAS_CLIENT_FD"' \
		>"$FAAS_TMP/init.out" 2>"$FAAS_TMP/init.err" 3>&- &
	INIT_PID=$!
	faas_track_pid "$INIT_PID"
	sender --connect "$SOCK" --request '' --replies "$FAAS_TMP/replies.a"
	sender_done
	[ "$sent" = ok ]
	grep -qx '{"status":0}' "$FAAS_TMP/replies.a"
	[ "$(cat /proc/"$INIT_PID"/comm)" = faas-init ]
	# It keeps serving; the handler does not inherit the listening socket.
	sender --connect "$SOCK" --request '' --replies "$FAAS_TMP/replies.b"
	sender_done
	[ "$sent" = ok ]
	kill -TERM "$INIT_PID"
	init_done
	[ "$init_status" -eq 0 ]
	# The path is its maker's to remove: faas-init left it.
	[ -S "$SOCK" ]
}

@test "faas-init: --listen-fd without --loop accepts one connection, on a socket handed over non-blocking" {
	requires python3
	"$PYTHON" -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
s.setblocking(False)
os.dup2(s.fileno(), 7)
os.set_inheritable(7, True)
os.execv(sys.argv[2], sys.argv[2:])' "$SOCK" "$FAAS_INIT" --listen-fd 7 -- sh -c "$ENV_HANDLER" \
		>"$FAAS_TMP/init.out" 2>"$FAAS_TMP/init.err" 3>&- &
	INIT_PID=$!
	faas_track_pid "$INIT_PID"
	sender --connect "$SOCK" --request '' --payload '{"request_id":"F1"}'
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	[[ "$sent" == "fd="*" rid=F1 "* ]]
	[ -S "$SOCK" ]
}

@test "faas-init: --listen replaces a stale socket left by an earlier run" {
	requires python3
	"$PYTHON" -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
	[ -S "$SOCK" ]
	init_bg --listen "$SOCK" --notify-fd 5 -- sh -c "$ENV_HANDLER" 5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	sender --connect "$SOCK" --request ''
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
}

@test "faas-init: --connect --notify-fd notifies once connected" {
	requires python3
	serve_fd --request ''
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" --notify-fd 5 -- sh -c "$ENV_HANDLER" 5>"$FAAS_TMP/ready"
	[ "$status" -eq 0 ]
	[ "$(od -An -c "$FAAS_TMP/ready" | tr -d ' ')" = '\n' ]
	sender_done
}

@test "faas-init: --listen-fds moves fds to 3.. and sets LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES" {
	requires python3
	serve_fd --fds 2 --request ''
	run_faas timeout 30 "$FAAS_INIT" --fds 2 --listen-fds --connect "$SOCK" -- \
		sh -c "$ENV_HANDLER"' && echo "pid=$$" >&3; exit 0'
	[ "$status" -eq 0 ]
	sender_done
	local nl=$'\n'
	[[ "$sent" =~ ^fd=3\ fds=3,4\ rid=unset\ deadline=unset\ lfds=2\ lpid=([0-9]+)\ names=client:client${nl}pid=([0-9]+)$ ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]

	serve_fd --fds 2 --request '' --payload '{"names":"web:admin"}'
	run_faas timeout 30 "$FAAS_INIT" --fds 2 --listen-fds --connect "$SOCK" -- sh -c "$ENV_HANDLER"
	[ "$status" -eq 0 ]
	sender_done
	[[ "$sent" == *" names=web:admin" ]]
}

@test "faas-init: --listen-fds as PID 1: LISTEN_PID is the forked handler's pid" {
	requires root python3 unshare pidns
	serve_fd --request ''
	pidns_bg --listen-fds --connect "$SOCK" -- sh -c "$ENV_HANDLER"' && echo "pid=$$ ppid=$PPID" >&3; exit 0'
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	local nl=$'\n'
	[[ "$sent" =~ lpid=2\ .*${nl}pid=2\ ppid=1$ ]]
}

# ---- --loop ----

@test "faas-init: --loop serves 3 invocations in a row with pid/status replies and a root" {
	requires root python3 busybox
	local root="$FAAS_TMP/root" i
	mkdir -p "$root/bin"
	ln /usr/bin/busybox "$root/bin/busybox" 2>/dev/null || cp /usr/bin/busybox "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	echo "inside the root" >"$root/marker"
	init_bg --listen "$SOCK" --loop --notify-fd 5 -- /bin/sh -c \
		'if [ -r /marker ]; then read -r m </marker; else m=host; fi; echo "$FAAS_REQUEST_ID $$ $m" >&"$FAAS_CLIENT_FD"; exit "${FAAS_REQUEST_ID#r}"' \
		5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	for i in 0 1 2; do
		local payload="{\"request_id\":\"r$i\"}"
		[ "$i" = 1 ] && payload="{\"request_id\":\"r$i\",\"root\":\"$root\"}"
		sender --connect "$SOCK" --request '' --payload "$payload" --replies "$FAAS_TMP/replies.$i"
		sender_done
		cat "$FAAS_TMP/replies.$i" >&2
		[[ "$sent" =~ ^r$i\ ([0-9]+)\ (.*)$ ]]
		local pid=${BASH_REMATCH[1]} where=${BASH_REMATCH[2]}
		if [ "$i" = 1 ]; then [ "$where" = "inside the root" ]; else [ "$where" = host ]; fi
		[ "$(sed -n 1p "$FAAS_TMP/replies.$i")" = "{\"pid\":$pid}" ]
		[ "$(sed -n 2p "$FAAS_TMP/replies.$i")" = "{\"status\":$i}" ]
		[ "$(wc -l <"$FAAS_TMP/replies.$i")" -eq 2 ]
	done
	# A root that does not exist: that handler fails with 65, the loop goes on.
	sender --connect "$SOCK" --payload "{\"request_id\":\"r4\",\"root\":\"$FAAS_TMP/no-root\"}" \
		--replies "$FAAS_TMP/replies.4"
	sender_done
	[ "$(sed -n 2p "$FAAS_TMP/replies.4")" = '{"status":65}' ]
	grep -q "chroot into \`$FAAS_TMP/no-root\`: No such file or directory" "$FAAS_TMP/init.err"
	kill -TERM "$INIT_PID"
	init_done
	[ "$init_status" -eq 0 ]
	[ ! -e "$SOCK" ]
}

@test "faas-init: --loop runs invocations at the same time" {
	requires python3
	init_bg --listen "$SOCK" --loop --notify-fd 5 -- sh -c '
		touch "$0/started.$FAAS_REQUEST_ID"
		i=0
		until [ -e "$0/started.a" ] && [ -e "$0/started.b" ]; do
			i=$((i + 1)); [ "$i" -le 1000 ] || exit 9
			sleep 0.01
		done
		echo "$FAAS_REQUEST_ID saw both" >&"$FAAS_CLIENT_FD"' "$FAAS_TMP" 5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	"$PYTHON" "$HELPERS/fd-sender.py" --connect "$SOCK" --request '' --payload '{"request_id":"a"}' \
		--replies "$FAAS_TMP/replies.a" >"$FAAS_TMP/out.a" 3>&- &
	local a=$!
	faas_track_pid "$a"
	sender --connect "$SOCK" --request '' --payload '{"request_id":"b"}' --replies "$FAAS_TMP/replies.b"
	sender_done
	wait "$a"
	[ "$sent" = "b saw both" ]
	[ "$(cat "$FAAS_TMP/out.a")" = "a saw both" ]
	grep -qx '{"status":0}' "$FAAS_TMP/replies.a"
	grep -qx '{"status":0}' "$FAAS_TMP/replies.b"
	kill -TERM "$INIT_PID"
	init_done
	[ "$init_status" -eq 0 ]
}

@test "faas-init: --loop answers a bad message with an error reply and keeps serving" {
	requires python3 jq
	init_bg --listen "$SOCK" --loop --notify-fd 5 -- sh -c 'echo ok >&"$FAAS_CLIENT_FD"' 5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	sender --connect "$SOCK" --send pipe --replies "$FAAS_TMP/replies.bad"
	sender_done
	jq -e '.status == 65 and .error.tool == "faas-init" and .error.status == 65
		and (.error.message | test("not a socket"))' "$FAAS_TMP/replies.bad"
	sender --connect "$SOCK" --send none --replies "$FAAS_TMP/replies.none"
	sender_done
	jq -e '.status == 65' "$FAAS_TMP/replies.none"
	sender --connect "$SOCK" --request '' --replies "$FAAS_TMP/replies.ok"
	sender_done
	[ "$sent" = ok ]
	[ "$(tail -n 1 "$FAAS_TMP/replies.ok")" = '{"status":0}' ]
	kill -TERM "$INIT_PID"
	init_done
	[ "$init_status" -eq 0 ]
	[[ "$(cat "$FAAS_TMP/init.err")" == *"not a socket"* ]]
}

@test "faas-init: --loop on SIGTERM stops accepting, forwards it and waits for handlers" {
	requires python3
	init_bg --listen "$SOCK" --loop --notify-fd 5 -- "$HELPERS/term-handler.sh" "$FAAS_TMP/handler.ready" \
		5>"$FAAS_TMP/ready"
	retry 500 0.01 test -s "$FAAS_TMP/ready"
	sender --connect "$SOCK" --replies "$FAAS_TMP/replies"
	retry 500 0.01 test -s "$FAAS_TMP/handler.ready"
	faas_track_pid "$(cat "$FAAS_TMP/handler.ready")"
	kill -TERM "$INIT_PID"
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	[ "$(sed -n 2p "$FAAS_TMP/replies")" = '{"status":3}' ]
	[ ! -e "$SOCK" ]
}

# ---- PID 1 and --subreaper ----

@test "faas-init: as PID 1 it forks the handler and reaps orphans from other process groups" {
	requires root python3 unshare pidns
	serve_fd
	pidns_bg --connect "$SOCK" -- sh -c 'echo "$$ $PPID" >"$0/ids"; exec "$1" "$0"' \
		"$FAAS_TMP" "$HELPERS/reap-check.sh"
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	[ "$(cat "$FAAS_TMP/ids")" = "2 1" ]
	[ "$(cat "$FAAS_TMP/init.out")" = reaped ]
}

@test "faas-init: as PID 1 it exits with the handler while other processes still run" {
	requires root python3 unshare pidns
	serve_fd
	pidns_bg --connect "$SOCK" -- sh -c 'setsid sleep 1000 >/dev/null 2>&1 & exit 5'
	sender_done
	init_done
	[ "$init_status" -eq 5 ]
}

@test "faas-init: as PID 1 it forwards SIGTERM to the handler and exits with its status" {
	requires root python3 unshare pidns
	serve_fd
	pidns_bg --connect "$SOCK" -- "$HELPERS/term-handler.sh" "$FAAS_TMP/handler.ready"
	sender_done
	retry 500 0.01 test -s "$FAAS_TMP/handler.ready"
	[ "$(cat "$FAAS_TMP/handler.ready")" = 2 ]
	local init
	init=$(retry 500 0.01 child_of "$INIT_PID")
	[ "$(cut -d' ' -f2 "/proc/$init/stat")" = "(faas-init)" ]
	kill -TERM "$init"
	init_done
	[ "$init_status" -eq 3 ]
}

@test "faas-init: as PID 1 a handler killed by signal 9 makes it exit 137" {
	requires root python3 unshare pidns
	serve_fd
	pidns_bg --connect "$SOCK" -- sh -c 'kill -9 $$'
	sender_done
	init_done
	[ "$init_status" -eq 137 ]
}

@test "faas-init: as PID 1 a failed exec exits 127 naming the command" {
	requires root python3 unshare pidns
	serve_fd
	pidns_bg --connect "$SOCK" -- no-such-handler-xyz
	sender_done
	init_done
	[ "$init_status" -eq 127 ]
	grep -q 'exec `no-such-handler-xyz`' "$FAAS_TMP/init.err"
}

@test "faas-init: --subreaper adopts and reaps orphans outside a pid namespace" {
	requires python3
	# If the test fails half way, the orphan must not outlive it.
	faas_on_teardown 'kill -KILL "$(cat "$FAAS_TMP/orphan.pid" 2>/dev/null)" 2>/dev/null'
	serve_fd
	init_bg --subreaper --connect "$SOCK" -- sh -c 'echo "$PPID" >"$0/ppid"; exec "$1" "$0"' \
		"$FAAS_TMP" "$HELPERS/reap-check.sh"
	sender_done
	init_done
	[ "$init_status" -eq 0 ]
	[ "$(cat "$FAAS_TMP/init.out")" = reaped ]
	# The handler's parent was faas-init itself.
	[ "$(cat "$FAAS_TMP/ppid")" = "$INIT_PID" ]
}

@test "faas-init: --subreaper forwards signals and passes 128+N through" {
	requires python3
	serve_fd
	init_bg --subreaper --connect "$SOCK" -- \
		sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec sleep 1000' "$FAAS_TMP/handler.ready"
	sender_done
	retry 500 0.01 test -s "$FAAS_TMP/handler.ready"
	faas_track_pid "$(cat "$FAAS_TMP/handler.ready")"
	kill -USR1 "$INIT_PID"
	init_done
	[ "$init_status" -eq 138 ]
}

# ---- the example handlers, end to end ----

# http_through HANDLER...: curl -> 127.0.0.1 -> the accepted connection
# passed over the control socket -> faas-init -> HANDLER. Response in $http.
http_through() {
	serve_fd --send tcp --port-file "$FAAS_TMP/port" --payload '{"request_id":"e2e"}'
	curl -sS -i --max-time 20 "http://127.0.0.1:$(cat "$FAAS_TMP/port")/hello" \
		>"$FAAS_TMP/curl.out" 2>"$FAAS_TMP/curl.err" 3>&- &
	local curl_pid=$! rc=0
	faas_track_pid "$curl_pid"
	run_faas timeout 30 "$FAAS_INIT" --connect "$SOCK" -- "$@"
	[ "$status" -eq 0 ]
	wait "$curl_pid" || rc=$?
	http=$(tr -d '\r' <"$FAAS_TMP/curl.out")
	printf '# curl exited %s:\n%s\n%s\n' "$rc" "$http" "$(cat "$FAAS_TMP/curl.err")" >&2
	[ "$rc" -eq 0 ]
	sender_done
	[[ "$http" == "HTTP/1."?" 200 OK"* ]]
}

# raw_through OPTIONS -- HANDLER...: a raw request on a socketpair, with
# --listen-fds (socket activation). Response in $sent.
raw_through() {
	serve_fd --request 'GET /raw HTTP/1.1\r\nHost: faas\r\n\r\n'
	run_faas timeout 30 "$FAAS_INIT" --listen-fds --connect "$SOCK" -- "$@"
	[ "$status" -eq 0 ]
	sender_done
	sent=$(printf '%s' "$sent" | tr -d '\r')
	[[ "$sent" == "HTTP/1.1 200 OK"* ]]
}

@test "faas-init: the C handler answers HTTP over TCP and under LISTEN_FDS" {
	requires python3 curl
	http_through "$FAAS_EXAMPLES_BIN/hello-c"
	[[ "$http" == *"Content-Length: 23"* && "$http" == *"Connection: close"* ]]
	[[ "$http" == *$'\n\nhello from faaskit (c)' ]]
	raw_through "$FAAS_EXAMPLES_BIN/hello-c"
	[[ "$sent" == *"hello from faaskit (c)" ]]
}

@test "faas-init: the Python handler (BaseHTTPRequestHandler over socket.fromfd) answers HTTP" {
	requires python3 curl
	http_through "$PYTHON" "$HANDLERS/hello.py"
	[[ "$stderr" == *'hello.py: e2e: "GET /hello HTTP/1.1" 200'* ]]
	[[ "$http" == *"Content-Length: 28"* ]]
	[[ "$http" == *$'\n\nhello from faaskit (python)' ]]
	raw_through "$PYTHON" "$HANDLERS/hello.py"
	[[ "$sent" == *"hello from faaskit (python)" ]]
}

@test "faas-init: the Node handler answers HTTP" {
	requires python3 curl node
	http_through node "$HANDLERS/hello.js"
	[[ "$http" == *$'\n\nhello from faaskit (node)' ]]
	raw_through node "$HANDLERS/hello.js"
	[[ "$sent" == *"hello from faaskit (node)" ]]
}

@test "faas-init: the shell handler answers HTTP under sh and busybox sh" {
	requires python3 curl busybox
	http_through sh "$HANDLERS/hello.sh"
	[[ "$http" == *"Content-Length: 24"* ]]
	[[ "$http" == *$'\n\nhello from faaskit (sh)' ]]
	http_through busybox sh "$HANDLERS/hello.sh"
	[[ "$http" == *$'\n\nhello from faaskit (sh)' ]]
	raw_through busybox sh "$HANDLERS/hello.sh"
	[[ "$sent" == *"hello from faaskit (sh)" ]]
}

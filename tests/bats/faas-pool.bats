#!/usr/bin/env bats
# faas-pool and faas-invoke with real sandboxes: a busybox-static rootfs with
# the C handler, built per test under the test's temp dir. Teardown removes
# every sandbox the test's state knows (pool rm), then, should that fail,
# whatever a sandbox of this test could have left: its faas-init, the shared
# invocations mount under the run dir and its cgroups.

load helpers/common

: "${FAAS_POOL:=$FAAS_BIN_DIR/faas-pool}"
: "${FAAS_INVOKE:=$FAAS_BIN_DIR/faas-invoke}"
: "${FAAS_FORK:=$FAAS_BIN_DIR/faas-fork}"

setup() {
	faas_setup
	requires root pidns mntns netns busybox jq sqlite3 memcg
	ROOTFS=$FAAS_TMP/rootfs
	make_rootfs "$ROOTFS"
	faas_on_teardown cleanup_sandboxes
}

teardown() { faas_teardown; }

# A minimal rootfs: busybox-static and its applets, the C handler, and the
# mount points a sandbox needs.
make_rootfs() {
	local r=$1 a
	mkdir -p "$r"/bin "$r"/dev "$r"/proc "$r"/run "$r"/tmp "$r"/etc
	cp "$(command -v busybox)" "$r"/bin/busybox
	for a in sh cat ls mount umount unshare grep head tr wc touch echo printf sleep kill id dd readlink; do
		ln -s busybox "$r/bin/$a"
	done
	cp "$FAAS_EXAMPLES_BIN/hello-c" "$r"/hello-c
}

# The sandboxes of this test's state: pool rm, then by hand what is left.
cleanup_sandboxes() {
	local db=$FAAS_STATE_DIR/state.db run_db=$FAAS_RUN_DIR/run.db pools id pid d
	if [ -f "$db" ]; then
		pools=$(sqlite3 "$db" "SELECT name FROM pools" 2>/dev/null) || true
		[ -n "$pools" ] && "$FAAS_POOL" pool rm $pools >/dev/null 2>&1
	fi
	if [ -f "$run_db" ]; then
		sqlite3 "$run_db" "SELECT id, pid FROM sandboxes" 2>/dev/null | while IFS='|' read -r id pid; do
			[ "$pid" -gt 1 ] 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = faas-init ] &&
				kill -KILL "$pid" 2>/dev/null
		done
	fi
	for d in "$FAAS_RUN_DIR"/sandboxes/*; do
		[ -d "$d" ] || continue
		id=${d##*/}
		mountpoint -q "$d/invocations" 2>/dev/null && umount -l "$d/invocations"
		for c in /sys/fs/cgroup/*/faas/"$id" /sys/fs/cgroup/faas/"$id"; do
			[ -d "$c" ] && retry 20 0.1 rmdir "$c"
		done
	done
	# Forks made in this test's state dir that pool rm could not remove.
	for d in "$FAAS_STATE_DIR"/forks/*/merged "$FAAS_STATE_DIR"/forks/*/rw; do
		mountpoint -q "$d" 2>/dev/null && umount -l "$d"
	done
	return 0
}

pool() { "$FAAS_POOL" "$@"; }

add_hello() { pool template add "${1:-hello}" --rootfs "$ROOTFS" --cmd /hello-c >/dev/null; }

# A handler that answers with what it sees from inside the sandbox.
add_probe() {
	cat >"$ROOTFS/probe.sh" <<'SH'
fd=$FAAS_CLIENT_FD
while read -r line <&$fd; do [ "$line" = "$(printf '\r')" ] && break; done
exec >&$fd 2>&1
printf 'HTTP/1.0 200 OK\r\n\r\n'
echo "pid1=$(cat /proc/1/comm)"
ls -d /proc/[0-9]* >/tmp/procs
echo "procs=$(wc -l </tmp/procs)"
grep -E '^(NoNewPrivs|CapEff|CapBnd|Seccomp):' /proc/self/status
touch /written 2>/dev/null && echo root=rw || echo root=ro
mount -t tmpfs none /tmp 2>/dev/null && echo mount=ok || echo mount=denied
unshare -m true 2>/dev/null && echo unshare=ok || echo unshare=denied
cat /proc/1/cmdline >/dev/null && echo cmdline=ok
echo "hostname=$(cat /proc/sys/kernel/hostname)"
echo "netdevs=$(grep -c : /proc/net/dev)"
echo "netns=$(readlink /proc/self/ns/net)"
echo "lo-up=$(grep -c ' lo$' /proc/net/if_inet6)"
echo "keys=$(wc -c </proc/keys)"
[ -e /run/faas ] && echo control=seen || echo control=hidden
echo "sysrw=$(touch /proc/sys/kernel/hostname 2>/dev/null && echo yes || echo no)"
SH
	pool template add probe --rootfs "$ROOTFS" --cmd /bin/sh /probe.sh --memory 64M --pids 64 >/dev/null
}

# Every process, mount, cgroup and row of this test is gone.
assert_nothing_left() {
	local pids=$1 p
	! grep -q " $FAAS_TMP" /proc/self/mountinfo || { grep " $FAAS_TMP" /proc/self/mountinfo >&2; return 1; }
	for p in $pids; do
		retry 50 0.1 bash -c "! kill -0 $p 2>/dev/null"
	done
	[ "$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT count(*) FROM sandboxes')" -eq 0 ]
	[ -z "$(ls "$FAAS_RUN_DIR"/sandboxes 2>/dev/null)" ]
	for p in $IDS; do
		! ls -d /sys/fs/cgroup/*/faas/"$p" /sys/fs/cgroup/faas/"$p" 2>/dev/null
	done
}

@test "template add, ls, show and rm; bad templates are refused" {
	run_faas pool template add hello --rootfs "$ROOTFS" --cmd /hello-c --env A=1 --memory 32M --pids 16
	[ "$status" -eq 0 ]
	assert_json_lines '.template.name == "hello" and .template.backend == "native" and .template.memory == 33554432 and .template.cmd == ["/hello-c"]'
	run_faas pool template add hello --rootfs "$ROOTFS" --cmd /hello-c
	[ "$status" -eq 73 ]
	run_faas pool template ls --json
	assert_json_lines '.template.name == "hello"'
	run_faas pool template show hello
	assert_json_lines '.template.env == ["A=1"]'
	run_faas pool template show nope
	[ "$status" -eq 66 ]
	mkdir "$FAAS_TMP/bare"
	run_faas pool template add bare --rootfs "$FAAS_TMP/bare" --cmd /x
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"no /dev directory"* ]]
	run_faas pool template add nocmd --rootfs "$ROOTFS"
	[ "$status" -eq 64 ]
	run_faas pool warm hello --size 0
	[ "$status" -eq 0 ]
	run_faas pool template rm hello
	[ "$status" -eq 65 ]
	run_faas pool pool rm hello
	[ "$status" -eq 0 ]
	run_faas pool template rm hello
	[ "$status" -eq 0 ]
	run_faas pool template ls --json
	[ -z "$output" ]
}

@test "warm, acquire | faas-invoke --http GET / answers 200 from the C handler, release recycles" {
	add_hello
	run_faas pool warm hello --size 2
	[ "$status" -eq 0 ]
	assert_json_lines '.pool.warm == 2 and .pool.started == 2'
	# Idempotent: a second warm starts nothing.
	run_faas pool warm hello
	assert_json_lines '.pool.warm == 2 and .pool.started == 0'
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.start == "warm" and .invoke.status == 200 and .invoke.handler_exit == 0 and (.invoke.body | test("hello")) and .invoke.bytes > 0 and .timing["pool.acquire"] > 0'
	id=$(jq -r .sandbox.id <<<"$output")
	run_faas pool status --json
	assert_json_lines '.pool.warm == 1 and .pool.claimed == 1 and .pool.hits == 1'
	run_faas pool release "$id"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.state == "warm"'
	# The recycled sandbox serves again; --release in the pipeline.
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_INVOKE' --http POST /x --data hi -H 'X-A: b' --release"
	[ "$status" -eq 0 ]
	assert_json_lines '.invoke.status == 200 and .sandbox.state == "warm"'
	run_faas pool status --json
	assert_json_lines '.pool.warm == 2 and .pool.claimed == 0'
	# A record on stdin releases too; unknown IDs and records without an id are refused.
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_POOL' release --destroy"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.state == "destroyed"'
	run_faas pool release 000000000000
	[ "$status" -eq 66 ]
	run_faas bash -c "echo '{\"v\":1}' | '$FAAS_POOL' release"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line 1"* ]]
}

@test "an empty pool: 75 at once, --wait gives up, --cold starts one; a missing pool is 69" {
	add_hello
	run_faas pool warm hello --size 0
	run_faas pool acquire hello
	[ "$status" -eq 75 ]
	run_faas pool acquire hello --wait 100ms
	[ "$status" -eq 75 ]
	run_faas pool acquire nope
	[ "$status" -eq 69 ]
	run_faas bash -c "'$FAAS_POOL' acquire hello --cold | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.start == "cold" and .invoke.start == "cold" and .invoke.status == 200'
	# The pool's size is 0: the cold sandbox is destroyed on release.
	assert_json_lines '.sandbox.state == "destroyed"'
	run_faas pool status --json
	assert_json_lines '.pool.misses >= 2 and .pool.warm == 0 and .pool.claimed == 0'
}

@test "inside a sandbox: pid 1 is faas-init, host invisible, read-only root, no mount or unshare, documented caps" {
	add_probe
	run_faas pool warm probe --size 1
	run_faas bash -c "'$FAAS_POOL' acquire probe | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	body=$(jq -r .invoke.body <<<"$output")
	echo "$body" >&2
	grep -qx 'pid1=faas-init' <<<"$body"
	# faas-init, the shell (and its ls, unless busybox runs it in-process): no host process.
	[ "$(sed -n 's/^procs=//p' <<<"$body")" -le 3 ]
	# A new network namespace: only lo.
	grep -qx 'netdevs=1' <<<"$body"
	# ... not the host's, with its loopback up (::1 is on lo only when lo is up).
	! grep -qx "netns=$(readlink /proc/self/ns/net)" <<<"$body"
	grep -q '^netns=net:' <<<"$body"
	grep -qx 'lo-up=1' <<<"$body"
	grep -qx 'NoNewPrivs:.1' <<<"$(tr '\t' . <<<"$body")"
	grep -qx 'CapEff:.0000000000040000' <<<"$(tr '\t' . <<<"$body")"
	grep -qx 'CapBnd:.0000000000040000' <<<"$(tr '\t' . <<<"$body")"
	grep -qx 'Seccomp:.2' <<<"$(tr '\t' . <<<"$body")"
	grep -qx 'root=ro' <<<"$body"
	grep -qx 'mount=denied' <<<"$body"
	grep -qx 'unshare=denied' <<<"$body"
	grep -qx 'keys=0' <<<"$body"
	# Its own control socket is not in reach: a handler cannot start more handlers.
	grep -qx 'control=hidden' <<<"$body"
	grep -qx 'sysrw=no' <<<"$body"
	grep -q '^hostname=faas-' <<<"$body"
	[ ! -e "$ROOTFS/written" ]
	# The limits are in the sandbox's cgroup.
	id=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	[ "$(cat /sys/fs/cgroup/pids/faas/"$id"/pids.max 2>/dev/null || cat /sys/fs/cgroup/faas/"$id"/pids.max)" = 64 ]
}

@test "64 concurrent acquires on a pool of 64 get 64 distinct sandboxes" {
	add_hello
	run_faas pool warm hello --size 64
	[ "$status" -eq 0 ]
	assert_json_lines '.pool.warm == 64'
	out=$FAAS_TMP/acquired
	mkdir "$out"
	for i in $(seq 64); do
		"$FAAS_POOL" acquire hello >"$out/$i" 2>"$out/$i.err" &
	done
	wait
	cat "$out"/*.err >&2
	[ "$(cat "$out"/[0-9]* | jq -r .sandbox.id | sort -u | wc -l)" -eq 64 ]
	[ "$(cat "$out"/[0-9]* | wc -l)" -eq 64 ]
	run_faas pool acquire hello
	[ "$status" -eq 75 ]
	run_faas pool status --json
	assert_json_lines '.pool.claimed == 64 and .pool.warm == 0 and .pool.hits == 64'
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	pids=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')
	run_faas pool pool rm hello
	[ "$status" -eq 0 ]
	assert_nothing_left "$pids"
}

@test "a pool of 8 and 24 pipelines with --wait: every one is served in turn" {
	add_hello
	run_faas pool warm hello --size 8
	[ "$status" -eq 0 ]
	out=$FAAS_TMP/served
	mkdir "$out"
	for i in $(seq 24); do
		bash -c "'$FAAS_POOL' acquire hello --wait 30s | '$FAAS_INVOKE' --http GET / --release" >"$out/$i" 2>"$out/$i.err" &
	done
	wait
	cat "$out"/*.err >&2
	[ "$(cat "$out"/[0-9]* | jq -r 'select(.invoke.status == 200) | .invoke.request_id' | sort -u | wc -l)" -eq 24 ]
	# Only the pool's 8 sandboxes served them, each recycled.
	[ "$(cat "$out"/[0-9]* | jq -r .sandbox.id | sort -u | wc -l)" -le 8 ]
	run_faas pool status --json
	assert_json_lines '.pool.warm == 8 and .pool.claimed == 0 and .pool.hits == 24'
}

@test "kill -9 of a sandbox's init: acquire never hands it out, reap cleans it; pool rm leaves nothing" {
	add_hello
	run_faas pool warm hello --size 2
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes ORDER BY rowid')
	pids=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes ORDER BY rowid')
	first=$(head -1 <<<"$pids")
	kill -KILL "$first"
	retry 50 0.1 bash -c "! grep -q '^State:.*[RS]' /proc/$first/status 2>/dev/null"
	run_faas pool acquire hello
	[ "$status" -eq 0 ]
	assert_json_lines ".sandbox.pid != $first"
	# The dead one was cleaned on the way; kill the claimed one and its holder is gone too.
	second=$(jq -r .sandbox.pid <<<"$output")
	kill -KILL "$second"
	run_faas pool reap
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.state == "reaped"'
	run_faas pool ls --json
	[ -z "$output" ]
	run_faas pool warm hello
	assert_json_lines '.pool.warm == 2'
	IDS="$IDS $(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')"
	pids="$pids $(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')"
	run_faas pool pool rm hello
	[ "$status" -eq 0 ]
	assert_nothing_left "$pids"
}

@test "a claimed sandbox whose holder died is reaped" {
	add_hello
	run_faas pool warm hello --size 1
	sleep 1000 &
	holder=$!
	faas_track_pid "$holder"
	run_faas pool acquire hello --holder "$holder"
	[ "$status" -eq 0 ]
	run_faas pool reap
	[ -z "$output" ]
	kill -KILL "$holder"
	wait "$holder" 2>/dev/null || true
	run_faas pool reap
	assert_json_lines '.sandbox.state == "reaped"'
}

@test "faas-invoke: a dead sandbox is 75, a malformed response 65; both are destroyed, not recycled" {
	add_hello
	printf '#!/bin/sh\nread -r l <&$FAAS_CLIENT_FD\necho garbage >&$FAAS_CLIENT_FD\n' >"$ROOTFS/bad.sh"
	pool template add bad --rootfs "$ROOTFS" --cmd /bin/sh /bad.sh >/dev/null
	run_faas pool warm hello --size 1
	run_faas pool warm bad --size 1
	run_faas pool acquire hello
	rec=$output
	kill -KILL "$(jq -r .sandbox.pid <<<"$rec")"
	retry 50 0.1 bash -c "! '$FAAS_POOL' ls --json | jq -e 'select(.sandbox.alive)' >/dev/null"
	run_faas bash -c "echo '$rec' | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"sandbox "* ]]
	run_faas bash -c "'$FAAS_POOL' acquire bad | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"malformed response"* ]]
	run_faas pool ls --json
	[ -z "$output" ]
	# Records without an id, and IDs not in state, are refused.
	run_faas bash -c "echo '{\"sandbox\":{}}' | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line 1"* ]]
	run_faas bash -c "echo '{\"sandbox\":{\"id\":\"ffffffffffff\",\"control\":\"/x\"}}' | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 66 ]
	run_faas "$FAAS_INVOKE" --http GET nopath </dev/null
	[ "$status" -eq 64 ]
}

@test "a handler past its deadline: 75 and the sandbox is destroyed" {
	printf '#!/bin/sh\nsleep 30\n' >"$ROOTFS/slow.sh"
	pool template add slow --rootfs "$ROOTFS" --cmd /bin/sh /slow.sh >/dev/null
	run_faas pool warm slow --size 1
	run_faas bash -c "'$FAAS_POOL' acquire slow | '$FAAS_INVOKE' --http GET / --deadline 300ms"
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"deadline"* ]]
	run_faas pool ls --json
	[ -z "$output" ]
}

@test "limits: past the memory limit a process dies inside, a fork bomb stops at the pids limit" {
	cat >"$ROOTFS/limits.sh" <<'SH'
fd=$FAAS_CLIENT_FD
while read -r line <&$fd; do [ "$line" = "$(printf '\r')" ] && break; done
exec >&$fd 2>/dev/null
printf 'HTTP/1.0 200 OK\r\n\r\n'
dd if=/dev/zero of=/dev/null bs=96M count=1
echo "dd=$?"
(for i in $(seq 40); do sleep 5 </dev/null >/dev/null 2>&1 & done)
echo "bomb=$?"
SH
	ln -s busybox "$ROOTFS/bin/seq"
	pool template add limits --rootfs "$ROOTFS" --cmd /bin/sh /limits.sh --memory 32M --pids 16 >/dev/null
	run_faas pool warm limits --size 1
	pid=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')
	run_faas bash -c "'$FAAS_POOL' acquire limits | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 0 ]
	body=$(jq -r .invoke.body <<<"$output")
	echo "$body" >&2
	# dd was killed (SIGKILL by the OOM killer), the shell that ran it was not.
	grep -qx 'dd=137' <<<"$body"
	# The fork bomb's subshell failed at the pids limit; the cgroup counted it.
	grep -qx 'bomb=[1-9][0-9]*' <<<"$body"
	id=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	cg=/sys/fs/cgroup/pids/faas/$id
	[ -d "$cg" ] || cg=/sys/fs/cgroup/faas/$id
	[ "$(cat "$cg/pids.current")" -le 16 ]
	[ "$(awk '$1 == "max" {print $2}' "$cg/pids.events")" -gt 0 ]
	# The sandbox's init survived both.
	kill -0 "$pid"
}

@test "kill -9 of warm mid-way: reap removes the half-started sandboxes, warm restores the pool" {
	add_hello
	# 64: a sandbox starts in a few milliseconds, the poll below must see
	# warm before it is done (should it not, the rest still holds).
	"$FAAS_POOL" warm hello --size 64 >/dev/null 2>&1 &
	warm=$!
	faas_track_pid "$warm"
	retry 100 0.02 bash -c "[ \$(sqlite3 '$FAAS_RUN_DIR/run.db' \"SELECT count(*) FROM sandboxes WHERE state = 'warm'\" 2>/dev/null || echo 0) -ge 2 ]"
	kill -KILL "$warm" 2>/dev/null || true
	wait "$warm" 2>/dev/null || true
	run_faas pool reap
	[ "$status" -eq 0 ]
	run_faas pool ls --json
	if [ -n "$output" ]; then assert_json_lines '.sandbox.state == "warm" and .sandbox.alive'; fi
	run_faas pool warm hello
	assert_json_lines '.pool.warm == 64 and .pool.starting == 0'
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	pids=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')
	run_faas pool pool rm hello
	assert_nothing_left "$pids"
}

@test "a sandbox whose root cannot be built: 71 with the reason, nothing left; spare directories are reused" {
	add_hello
	# The child builds its root while faas-pool makes its cgroups: a failure
	# there must still come back as the reason, and undo both sides.
	rmdir "$ROOTFS/dev"
	run_faas -71 pool warm hello --size 1
	[[ "$stderr" == *"/root/dev"*"No such file or directory"* ]]
	IDS=$(grep -o 'sandbox [0-9a-f]\{12\}' <<<"$stderr" | head -n 1 | cut -d' ' -f2)
	[ -n "$IDS" ]
	assert_nothing_left ""
	# Its emptied host directory became a spare; the next sandbox takes it.
	spare=$(ls "$FAAS_RUN_DIR/sandbox-spares")
	[ "$(wc -w <<<"$spare")" -eq 1 ]
	mkdir "$ROOTFS/dev"
	run_faas pool warm hello --size 1
	[ -z "$(ls "$FAAS_RUN_DIR/sandbox-spares")" ]
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	pids=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')
	run_faas pool pool rm hello
	assert_nothing_left "$pids"
	[ "$(ls "$FAAS_RUN_DIR/sandbox-spares" | wc -l)" -eq 1 ]
}

@test "--netns-pool: the sandbox joins a faas-netns namespace, released back on pool rm" {
	requires ip
	: "${FAAS_NETNS:=$FAAS_BIN_DIR/faas-netns}"
	np=sb$$
	faas_on_teardown "'$FAAS_NETNS' pool rm $np >/dev/null 2>&1"
	run_faas "$FAAS_NETNS" pool create "$np" --size 1 --subnet "10.$((150 + BATS_TEST_NUMBER)).$(($$ % 250)).0/24"
	[ "$status" -eq 0 ]
	cat >"$ROOTFS/net.sh" <<'SH'
fd=$FAAS_CLIENT_FD
while read -r line <&$fd; do [ "$line" = "$(printf '\r')" ] && break; done
exec >&$fd 2>&1
printf 'HTTP/1.0 200 OK\r\n\r\n'
grep -c : /proc/net/dev
SH
	pool template add net --rootfs "$ROOTFS" --cmd /bin/sh /net.sh --netns-pool "$np" >/dev/null
	run_faas pool warm net --size 1
	[ "$status" -eq 0 ]
	run_faas bash -c "'$FAAS_NETNS' ls --json"
	assert_json_lines '.netns.state == "leased"'
	run_faas bash -c "'$FAAS_POOL' acquire net | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 0 ]
	# lo and the pool's veth end.
	assert_json_lines '.invoke.body == "2\n" and (.sandbox.ip | test("^10\\.")) and (.sandbox.netns | length) > 0'
	# The pool has one namespace, leased: a second sandbox cannot start.
	run_faas pool acquire net --cold
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"no ready namespace"* ]]
	run_faas pool pool rm net
	[ "$status" -eq 0 ]
	run_faas bash -c "'$FAAS_NETNS' ls --json"
	assert_json_lines '.netns.state == "ready"'
}

# A handler that says whether an earlier invocation's write is visible, then
# writes to its root.
add_writer() {
	cat >"$ROOTFS/w.sh" <<'SH'
fd=$FAAS_CLIENT_FD
while read -r line <&$fd; do [ "$line" = "$(printf '\r')" ] && break; done
exec >&$fd 2>&1
printf 'HTTP/1.0 200 OK\r\n\r\n'
[ -e /marker ] && echo seen || echo fresh
touch /marker && echo wrote
SH
	pool template add w --rootfs "$ROOTFS" --cmd /bin/sh /w.sh >/dev/null
}

# No fork is mounted or recorded in this test's state any more.
assert_no_forks() {
	! grep -q " $FAAS_STATE_DIR/forks/" /proc/self/mountinfo || { grep " $FAAS_STATE_DIR/forks/" /proc/self/mountinfo >&2; return 1; }
	[ -z "$(ls "$FAAS_RUN_DIR/fork-rows" 2>/dev/null)" ]
	[ -z "$(ls "$FAAS_STATE_DIR/forks" 2>/dev/null)" ]
	[ -z "$(find "$FAAS_RUN_DIR"/sandboxes/*/invocations -mindepth 1 2>/dev/null)" ]
}

@test "pipeline: faas-pool acquire | faas-fork --overlay | faas-invoke --http GET / answers 200 from the fork" {
	requires overlay
	add_hello
	run_faas pool warm hello --size 1
	[ "$status" -eq 0 ]
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_json_lines '.v == 1 and .sandbox.start == "warm" and .invoke.status == 200 and .invoke.handler_exit == 0
		and (.invoke.body | test("hello")) and (.invoke.root | startswith("/run/faas-invocations/"))
		and .fork.method == "overlay" and .fork.sandbox == .sandbox.id and .fork.base == .sandbox.rootfs
		and .fork.removed == true and .sandbox.state == "warm"
		and .timing["pool.acquire"] > 0 and .timing["fork.total"] > 0 and .timing["invoke.total"] > 0'
	assert_no_forks
	run_faas pool status --json
	assert_json_lines '.pool.warm == 1 and .pool.claimed == 0 and .pool.hits == 1'
}

@test "pipeline: the warm path reads run.db alone; state.db moved away is not recreated" {
	requires overlay
	add_hello
	run_faas pool warm hello --size 1
	[ "$status" -eq 0 ]
	mkdir "$FAAS_TMP/saved"
	mv "$FAAS_STATE_DIR"/state.db* "$FAAS_TMP/saved/"
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET / --release"
	local opened=no
	[ -e "$FAAS_STATE_DIR/state.db" ] && opened=yes
	rm -f "$FAAS_STATE_DIR"/state.db*
	mv "$FAAS_TMP/saved"/state.db* "$FAAS_STATE_DIR/"
	[ "$status" -eq 0 ]
	[ "$opened" = no ]
	assert_json_lines '.invoke.status == 200 and .fork.removed == true and .sandbox.state == "warm"'
	run_faas pool status --json
	assert_json_lines '.pool.warm == 1 and .pool.hits == 1'
}

@test "pipeline: a write in one invocation's fork reaches neither the template nor the next invocation" {
	requires overlay
	add_writer
	run_faas pool warm w --size 1
	for i in 1 2; do
		run_faas bash -c "'$FAAS_POOL' acquire w | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET / --release"
		[ "$status" -eq 0 ]
		assert_json_lines '.invoke.status == 200 and .invoke.body == "fresh\nwrote\n" and .fork.removed == true and .sandbox.state == "warm"'
		assert_no_forks
	done
	[ ! -e "$ROOTFS/marker" ]
	# Without --release: the fork belongs to the sandbox's holder (the shell
	# that ran the pipeline) until faas-pool release removes it.
	run_faas bash -c "'$FAAS_POOL' acquire w | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET /; echo \"{\\\"shell\\\":\$\$}\""
	[ "$status" -eq 0 ]
	rec=${lines[0]}
	shell=$(jq -r .shell <<<"${lines[1]}")
	output=$rec assert_json_lines '.invoke.body == "fresh\nwrote\n" and .fork.holder.pid == '"$shell"' and .fork.sandbox == .sandbox.id and (has("error") | not)'
	id=$(jq -r .sandbox.id <<<"$rec")
	[ "$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT holder_pid FROM sandboxes WHERE id = '$id'")" -eq "$shell" ]
	fork=$(jq -r .fork.id <<<"$rec")
	grep -q " $FAAS_STATE_DIR/forks/$fork/merged " /proc/self/mountinfo
	run_faas bash -c "echo '$rec' | '$FAAS_POOL' release"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.state == "warm" and .fork.removed == true and .fork.id == "'"$fork"'"'
	assert_no_forks
	# A fork made for an acquired sandbox goes with it when the pool goes.
	run_faas bash -c "'$FAAS_POOL' acquire w | '$FAAS_FORK' --overlay"
	[ "$status" -eq 0 ]
	assert_json_lines '.fork.sandbox == .sandbox.id'
	run_faas pool pool rm w
	[ "$status" -eq 0 ]
	assert_no_forks
}

@test "pipeline: faas-fork refuses unknown sandboxes (66), records that disagree with the state and warm sandboxes (65)" {
	requires overlay
	add_hello
	run_faas pool warm hello --size 3
	run_faas bash -c "echo '{\"sandbox\":{\"id\":\"ffffffffffff\",\"rootfs\":\"/\"}}' | '$FAAS_FORK' --overlay"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *'sandbox `ffffffffffff` not found in state'* ]]
	[[ "$stderr" == *"line 1"* ]]
	run_faas bash -c "echo '{\"sandbox\":{\"id\":\"../../etc\"}}' | '$FAAS_FORK' --overlay"
	[ "$status" -eq 66 ]
	warm=$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT id FROM sandboxes LIMIT 1")
	run_faas bash -c "echo '{\"sandbox\":{\"id\":\"$warm\"}}' | '$FAAS_FORK' --overlay"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"not acquired"* ]]
	# The record's rootfs is compared with the state, never used.
	run_faas bash -c "'$FAAS_POOL' acquire hello | jq -c '.sandbox.rootfs = \"/\"' | '$FAAS_FORK' --overlay"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"refusing the record"* ]]
	assert_no_forks
	# --keep-going: the bad record carries its error, the good one is forked.
	good=$("$FAAS_POOL" acquire hello)
	run_faas bash -c "{ echo '{\"sandbox\":{\"id\":\"eeeeeeeeeeee\"}}'; echo '$good'; } | '$FAAS_FORK' --overlay --keep-going"
	[ "$status" -eq 66 ]
	[ "${#lines[@]}" -eq 2 ]
	output=${lines[0]} assert_json_lines '.error.status == 66 and (.error.message | test("eeeeeeeeeeee")) and (has("fork") | not)'
	forked=${lines[1]}
	output=$forked assert_json_lines '.fork.sandbox == .sandbox.id and (has("error") | not)'
	# A sandbox's fork is not handed to another sandbox.
	other=$(printf '%s' "$forked" | jq -c --argjson s "$("$FAAS_POOL" acquire hello)" '.sandbox = $s.sandbox')
	run_faas bash -c "echo '$other' | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"made for sandbox"* ]]
	run_faas bash -c "echo '$forked' | '$FAAS_POOL' release --destroy"
	[ "$status" -eq 0 ]
	assert_json_lines '.sandbox.state == "destroyed" and .fork.removed == true'
	assert_no_forks
}

@test "a faas-fork --base fork (no sandbox) runs the handler too; a fork not in state is refused" {
	requires overlay
	add_writer
	run_faas pool warm w --size 1
	rec=$("$FAAS_POOL" acquire w)
	fork=$("$FAAS_FORK" --overlay --base "$ROOTFS")
	faas_on_teardown "echo '$fork' | '$FAAS_FORK' rm >/dev/null 2>&1"
	run_faas bash -c "jq -c -s '.[0] + {fork: .[1].fork}' <(echo '$rec') <(echo '$fork') | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	# Not the sandbox's own fork: the release keeps it.
	assert_json_lines '.invoke.body == "fresh\nwrote\n" and .sandbox.state == "warm" and (.fork.removed | not)'
	[ -z "$(ls "$FAAS_RUN_DIR"/sandboxes/*/invocations)" ]
	[ -e "$(jq -r .fork.merged <<<"$fork")/marker" ]
	echo "$fork" | "$FAAS_FORK" rm >/dev/null
	[ ! -e "$ROOTFS/marker" ]
	run_faas bash -c "'$FAAS_POOL' acquire w | jq -c '. + {fork: {id: \"aaaaaaaaaaaa\", merged: \"/\"}}' | '$FAAS_INVOKE' --http GET /"
	[ "$status" -eq 66 ]
}

# Starts the gateway in the background on a port the kernel picks; sets
# GW (its pid), GW_OUT (its stdout) and PORT.
start_gateway() {
	GW_OUT=$FAAS_TMP/gw.out
	"$FAAS_INVOKE" serve --listen 127.0.0.1:0 "$@" >"$GW_OUT" 2>"$FAAS_TMP/gw.err" &
	GW=$!
	faas_track_pid "$GW"
	retry 100 0.05 bash -c "[ -s '$GW_OUT' ]"
	PORT=$(head -1 "$GW_OUT" | jq -r '.serve.listen | split(":")[1]')
	[ "$PORT" -gt 0 ]
}

@test "serve: 20 requests through the gateway all answer 200; SIGTERM drains and exits 0" {
	requires curl
	add_hello
	run_faas pool warm hello --size 4
	[ "$status" -eq 0 ]
	start_gateway --pool hello --max-inflight 4
	output=$(head -1 "$GW_OUT") assert_json_lines '.v == 1 and .serve.pool == "hello" and .serve.max_inflight == 4 and (.serve.listen | startswith("127.0.0.1:"))'
	codes=$(seq 20 | xargs -P 8 -I{} curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "http://127.0.0.1:$PORT/{}")
	echo "$codes" >&2
	[ "$(grep -c '^200$' <<<"$codes")" -eq 20 ]
	# One record per request on stdout, after the first.
	retry 100 0.05 bash -c "[ \$(wc -l <'$GW_OUT') -eq 21 ]"
	output=$(tail -n +2 "$GW_OUT")
	assert_json_lines '.v == 1 and .invoke.handler_exit == 0 and (.invoke.request_id | length) == 12 and (.invoke.peer | startswith("127.0.0.1:")) and .sandbox.pool == "hello" and .sandbox.state == "claimed" and .timing["invoke.total"] > 0 and (has("error") | not)'
	[ "$(tail -n +2 "$GW_OUT" | jq -r .invoke.request_id | sort -u | wc -l)" -eq 20 ]
	# The gateway leases at most 4 sandboxes (one acquire each, not one per
	# request) and holds them until it drains.
	[ "$(tail -n +2 "$GW_OUT" | jq -r .sandbox.id | sort -u | wc -l)" -le 4 ]
	run_faas pool status --json
	assert_json_lines '.pool.warm + .pool.claimed == 4 and .pool.hits >= 1 and .pool.hits <= 4 and .pool.misses == 0'
	# A slow request in flight when SIGTERM comes is finished, then the gateway exits 0.
	printf '#!/bin/sh\nwhile read -r l <&$FAAS_CLIENT_FD; do [ "$l" = "$(printf "\\r")" ] && break; done\nsleep 0.5\nprintf "HTTP/1.0 200 OK\\r\\n\\r\\nslow\\n" >&$FAAS_CLIENT_FD\n' >"$ROOTFS/slow.sh"
	pool template add slow --rootfs "$ROOTFS" --cmd /bin/sh /slow.sh >/dev/null
	run_faas pool warm slow --size 1
	kill -TERM "$GW"
	wait "$GW"
	# Drained: the leased sandboxes are back in the pool, warm.
	run_faas pool status --json
	assert_json_lines '.pool.name != "hello" or (.pool.warm == 4 and .pool.claimed == 0)'
	start_gateway --pool slow --max-inflight 1
	curl -s --max-time 10 "http://127.0.0.1:$PORT/" >"$FAAS_TMP/slow.body" &
	c=$!
	retry 100 0.02 bash -c "[ \"\$('$FAAS_POOL' status --json | jq -r 'select(.pool.name == \"slow\") | .pool.claimed')\" = 1 ]"
	kill -TERM "$GW"
	gs=0
	wait "$GW" || gs=$?
	[ "$gs" -eq 0 ]
	wait "$c"
	[ "$(cat "$FAAS_TMP/slow.body")" = slow ]
	output=$(tail -n +2 "$GW_OUT") assert_json_lines '.invoke.handler_exit == 0 and .sandbox.state == "claimed"'
	run_faas pool status --json
	assert_json_lines '.pool.name != "slow" or (.pool.warm == 1 and .pool.claimed == 0)'
	# Drained: the port no longer accepts.
	! curl -s --max-time 2 "http://127.0.0.1:$PORT/"
}

@test "serve: a bad --listen is 64, a missing pool 69" {
	add_hello
	run_faas "$FAAS_INVOKE" serve --listen nope --pool hello
	[ "$status" -eq 64 ]
	run_faas "$FAAS_INVOKE" serve --listen 127.0.0.1:99999 --pool hello
	[ "$status" -eq 64 ]
	run_faas "$FAAS_INVOKE" serve --listen 300.0.0.1:80 --pool hello
	[ "$status" -eq 64 ]
	run_faas "$FAAS_INVOKE" serve --listen 127.0.0.1:0
	[ "$status" -eq 64 ]
	run_faas "$FAAS_INVOKE" serve --listen 127.0.0.1:0 --pool nope
	[ "$status" -eq 69 ]
}

# A handler that runs the shell script $1 (from the rootfs) and sends what it
# prints as the body.
add_script() {
	local name=$1 script=$2
	shift 2
	{
		printf 'fd=$FAAS_CLIENT_FD\n'
		printf 'while read -r line <&$fd; do [ "$line" = "$(printf '"'"'\\r'"'"')" ] && break; done\n'
		printf 'exec >&$fd 2>&1\n'
		printf 'printf '"'"'HTTP/1.0 200 OK\\r\\n\\r\\n'"'"'\n'
		cat
	} >"$ROOTFS/$script"
	pool template add "$name" --rootfs "$ROOTFS" --cmd /bin/sh "/$script" "$@" >/dev/null
}

invoke_body() { "$FAAS_POOL" acquire "$1" | "$FAAS_INVOKE" --http GET / --release | jq -r .invoke.body; }

@test "--userns: root inside is an unprivileged host uid; the idmapped rootfs is root's and readable" {
	requires userns idmap
	add_script u u.sh --userns <<'SH'
echo "uid=$(id -u) gid=$(id -g)"
cat /proc/self/uid_map /proc/self/gid_map
ls -ln /hello-c
head -c 4 /hello-c | wc -c
touch /x 2>/dev/null && echo root=rw || echo root=ro
SH
	run_faas pool template show u
	assert_json_lines '.template.userns.uid >= 1879048192 and .template.userns.count == 65536'
	base=$(jq -r .template.userns.uid <<<"$output")
	# A second template gets its own range.
	run_faas pool template add u2 --rootfs "$ROOTFS" --cmd /hello-c --userns
	[ "$status" -eq 0 ]
	assert_json_lines ".template.userns.uid != $base and .template.userns.uid % 65536 == 0"
	run_faas pool warm u --size 1
	[ "$status" -eq 0 ]
	pid=$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT pid FROM sandboxes WHERE pool = 'u'")
	# From the host: the sandbox's init runs as the mapped uid and gid, with no group of the host's root.
	grep -qx "Uid:.$base.$base.$base.$base" <<<"$(tr '\t' . </proc/"$pid"/status)"
	grep -qx "Gid:.$base.$base.$base.$base" <<<"$(tr '\t' . </proc/"$pid"/status)"
	[ "$(awk '$1 == "Groups:" {print NF}' /proc/"$pid"/status)" -eq 1 ]
	# Its bounding set is cut after it entered the user namespace (which gives a full one).
	grep -qx 'CapBnd:.0000000000040000' <<<"$(tr '\t' . </proc/"$pid"/status)"
	# Its control socket is the host's, made before the clone and passed to faas-init.
	[ "$(stat -c %u "$FAAS_RUN_DIR/sandboxes/$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT id FROM sandboxes WHERE pool = 'u'")/ctl/control.sock")" -eq 0 ]
	run_faas bash -c "'$FAAS_POOL' acquire u | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	body=$(jq -r .invoke.body <<<"$output")
	echo "$body" >&2
	grep -qx 'uid=0 gid=0' <<<"$body"
	[ "$(grep -c "^ *0 *$base *65536$" <<<"$body")" -eq 2 ]
	# The template's files are root's inside (idmapped), readable, and the root read-only.
	grep -q '^-rwx.* 0  *0 .*/hello-c$' <<<"$body"
	grep -qx 4 <<<"$body"
	grep -qx 'root=ro' <<<"$body"
	# An invocation's fork (overlayfs, which cannot be idmapped): readable; its files show as the overflow uid.
	if grep -qw overlay /proc/filesystems; then
		run_faas bash -c "'$FAAS_POOL' acquire u | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET / --release"
		[ "$status" -eq 0 ]
		body=$(jq -r .invoke.body <<<"$output")
		grep -qx 'uid=0 gid=0' <<<"$body"
		grep -q '^-rwx.* 65534  *65534 .*/hello-c$' <<<"$body"
		grep -qx 4 <<<"$body"
	fi
	# Nothing of the host's ownership changed.
	[ "$(stat -c %u "$ROOTFS/hello-c")" -eq 0 ]
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	run_faas pool pool rm u
	[ "$status" -eq 0 ]
	assert_nothing_left "$pid"
}

@test "--bind-ro: readable and read-only inside; a bad HOST or DEST is refused and leaves nothing" {
	mkdir -p "$FAAS_TMP/host" "$ROOTFS/mnt"
	echo from-host >"$FAAS_TMP/host/f"
	add_script b b.sh --bind-ro "$FAAS_TMP/host:/mnt" <<'SH'
cat /mnt/f
touch /mnt/new 2>/dev/null && echo bind=rw || echo bind=ro
grep ' /mnt ' /proc/self/mountinfo
SH
	run_faas pool template show b
	assert_json_lines '.template.bind_ro == [{"host": "'"$FAAS_TMP/host"'", "dest": "/mnt"}]'
	run_faas pool warm b --size 1
	[ "$status" -eq 0 ]
	body=$(invoke_body b)
	echo "$body" >&2
	grep -qx from-host <<<"$body"
	grep -qx bind=ro <<<"$body"
	grep -q ' /mnt ro,nosuid,nodev' <<<"$body"
	[ ! -e "$FAAS_TMP/host/new" ]
	# HOST without DEST: the same path inside, which must exist in the rootfs.
	run_faas pool template add same --rootfs "$ROOTFS" --cmd /hello-c --bind-ro /usr
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"is not in the rootfs"* ]]
	# A HOST that does not exist: 66, no template.
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/nope:/mnt"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"--bind-ro"*"nope"* ]]
	[ "${#lines[@]}" -eq 0 ]
	# DEST missing in the rootfs, of another kind, or one the sandbox mounts itself: 65; nothing created.
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host:/opt"
	[ "$status" -eq 65 ]
	[ ! -e "$ROOTFS/opt" ]
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host/f:/mnt"
	[ "$status" -eq 65 ]
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host:/proc"
	[ "$status" -eq 65 ]
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host:mnt"
	[ "$status" -eq 65 ]
	# A symlink in the rootfs resolves inside it, never to the host's path.
	ln -s /etc "$ROOTFS/etc-link"
	run_faas pool template add bad --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host:/etc-link/x"
	[ "$status" -eq 65 ]
	run_faas pool template ls --json
	[ "$(jq -r .template.name <<<"$output" | sort | tr '\n' ' ')" = "b " ]
	# HOST gone after template add: warm fails with the reason and leaves nothing.
	pool template add gone --rootfs "$ROOTFS" --cmd /hello-c --bind-ro "$FAAS_TMP/host:/mnt" >/dev/null
	pool pool rm b >/dev/null
	rm -rf "$FAAS_TMP/host"
	run_faas pool warm gone --size 1
	[ "$status" -eq 71 ]
	[[ "$stderr" == *"bind-ro"*"$FAAS_TMP/host"* ]]
	IDS=""
	assert_nothing_left ""
}

@test "--ksm: the sandbox's init and its handlers are marked mergeable" {
	requires ksm ksm-merge-any
	add_script k k.sh --ksm <<'SH'
grep ksm_merge_any /proc/self/ksm_stat
SH
	add_script plain plain.sh <<'SH'
grep ksm_merge_any /proc/self/ksm_stat
SH
	run_faas pool template show k
	assert_json_lines '.template.ksm == true'
	run_faas pool warm k --size 1
	[ "$status" -eq 0 ]
	run_faas pool warm plain --size 1
	pid=$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT pid FROM sandboxes WHERE pool = 'k'")
	grep -qx 'ksm_merge_any: yes' "/proc/$pid/ksm_stat"
	# Inherited over fork and exec: the handler's shell has it too; a template without --ksm does not.
	[ "$(invoke_body k)" = "ksm_merge_any: yes" ]
	[ "$(invoke_body plain)" = "ksm_merge_any: no" ]
}

@test "status: acquire latency percentiles, hits and misses; --prometheus writes a textfile atomically" {
	add_hello
	run_faas pool warm hello --size 1
	for i in 1 2 3 4 5; do
		run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_POOL' release"
		[ "$status" -eq 0 ]
	done
	run_faas pool acquire hello
	[ "$status" -eq 0 ]
	run_faas pool acquire hello
	[ "$status" -eq 75 ]
	run_faas pool status --json
	[ "$status" -eq 0 ]
	assert_json_lines '.pool.hits == 6 and .pool.misses == 1 and .pool.claimed == 1 and .pool.warm == 0
		and .pool.acquire.total == 6 and .pool.acquire.window == 6
		and .pool.acquire.p50_us > 0 and .pool.acquire.p50_us <= .pool.acquire.p90_us
		and .pool.acquire.p90_us <= .pool.acquire.p99_us and .pool.acquire.sum_us >= .pool.acquire.p99_us'
	st=$output
	hits=$(jq -r .pool.hits <<<"$st") misses=$(jq -r .pool.misses <<<"$st") claimed=$(jq -r .pool.claimed <<<"$st")
	run_faas pool status --table
	[[ "${lines[0]}" == *P50_MS*P90_MS*P99_MS* ]]
	prom=$FAAS_TMP/textfile/faas.prom
	mkdir "$FAAS_TMP/textfile"
	run_faas pool status --prometheus "$prom"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e "$prom.tmp" ]
	cat "$prom" >&2
	# Every line a comment or `name{labels} value`; HELP and TYPE for each family.
	! grep -Evx '# (HELP|TYPE) [a-z_]+ .+|[a-z_]+\{([a-z_]+="[^"]*",?)+\} ([0-9.e+-]+|NaN)' "$prom"
	for m in faas_pool_sandboxes faas_pool_acquire_total faas_pool_acquire_seconds; do
		grep -qx "# TYPE $m [a-z]*" "$prom"
		grep -q "^# HELP $m " "$prom"
	done
	[ "$(sed -n 's/^faas_pool_acquire_total{pool="hello",result="hit"} //p' "$prom")" -eq "$hits" ]
	[ "$(sed -n 's/^faas_pool_acquire_total{pool="hello",result="miss"} //p' "$prom")" -eq "$misses" ]
	[ "$(sed -n 's/^faas_pool_sandboxes{pool="hello",state="claimed"} //p' "$prom")" -eq "$claimed" ]
	[ "$(sed -n 's/^faas_pool_acquire_seconds_count{pool="hello"} //p' "$prom")" -eq "$hits" ]
	grep -Eq '^faas_pool_acquire_seconds\{pool="hello",quantile="0.99"\} 0\.[0-9]+$' "$prom"
	# An unwritable place: 73, nothing left behind.
	run_faas pool status --prometheus "$FAAS_TMP/nodir/faas.prom"
	[ "$status" -eq 73 ]
	[ ! -e "$FAAS_TMP/nodir" ]
}

@test "reap --idle-ttl: warm sandboxes idle past the pool's TTL are destroyed down to its minimum" {
	add_hello
	run_faas pool warm hello --size 3
	[ "$status" -eq 0 ]
	run_faas pool pool set hello --idle-ttl 1h --min 1
	[ "$status" -eq 0 ]
	assert_json_lines '.pool.idle_ttl_ms == 3600000 and .pool.min == 1 and .pool.size == 3'
	run_faas pool reap
	[ -z "$output" ]
	pids=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')
	IDS=$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')
	pool pool set hello --idle-ttl 50ms >/dev/null
	reaped=$FAAS_TMP/reaped
	retry 50 0.1 bash -c "'$FAAS_POOL' reap >>'$reaped' && [ \$('$FAAS_POOL' status --json | jq .pool.warm) -eq 1 ]"
	output=$(cat "$reaped") assert_json_lines '.sandbox.state == "reaped" and .sandbox.reason == "idle"'
	[ "$(wc -l <"$reaped")" -eq 2 ]
	# The minimum stays, alive; reaping again changes nothing.
	run_faas pool ls --json
	assert_json_lines '.sandbox.state == "warm" and .sandbox.alive'
	[ "${#lines[@]}" -eq 1 ]
	run_faas pool reap
	[ -z "$output" ]
	# warm --all (cron) keeps an unused pool at its minimum; after an acquire within the TTL, at its size.
	pool pool set hello --idle-ttl 1h >/dev/null
	run_faas pool warm --all
	assert_json_lines '.pool.warm == 1 and .pool.started == 0'
	run_faas bash -c "'$FAAS_POOL' acquire hello | '$FAAS_POOL' release"
	run_faas pool warm --all
	assert_json_lines '.pool.warm == 3 and .pool.started == 2'
	# warm POOL is explicit: it fills to the size whatever the TTL.
	run_faas pool pool set nope --idle-ttl 1s
	[ "$status" -eq 66 ]
	run_faas pool pool set hello
	[ "$status" -eq 64 ]
	run_faas pool pool set hello --idle-ttl soon
	[ "$status" -eq 64 ]
	IDS="$IDS $(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT id FROM sandboxes')"
	pids="$pids $(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT pid FROM sandboxes')"
	run_faas pool pool rm hello
	assert_nothing_left "$pids"
}

@test "a Python handler in the busybox rootfs with /usr bound read-only" {
	requires python3
	mkdir -p "$ROOTFS/usr"
	# Debian is usrmerged: /lib and /lib64 are links into /usr.
	ln -s usr/lib "$ROOTFS/lib"
	[ ! -e /lib64 ] || ln -s usr/lib64 "$ROOTFS/lib64"
	install -m 755 "$FAAS_SOURCE_DIR/examples/handlers/hello.py" "$ROOTFS/hello.py"
	run_faas pool template add hello-py --rootfs "$ROOTFS" --cmd /hello.py --bind-ro /usr
	[ "$status" -eq 0 ]
	run_faas pool warm hello-py --size 1
	[ "$status" -eq 0 ]
	run_faas bash -c "'$FAAS_POOL' acquire hello-py | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	assert_json_lines '.invoke.status == 200 and .invoke.body == "hello from faaskit (python)\n" and .sandbox.state == "warm"'
	# In an invocation's fork too: the binds are mounted on the fork's root for the handler.
	requires overlay
	run_faas bash -c "'$FAAS_POOL' acquire hello-py | '$FAAS_FORK' --overlay | '$FAAS_INVOKE' --http GET / --release"
	[ "$status" -eq 0 ]
	assert_json_lines '.invoke.status == 200 and .invoke.body == "hello from faaskit (python)\n" and .fork.removed == true and .sandbox.state == "warm"'
	assert_no_forks
	! grep -q " $FAAS_RUN_DIR/sandboxes/[0-9a-f]*/invocations/" /proc/self/mountinfo
}

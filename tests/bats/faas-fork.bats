#!/usr/bin/env bats
# faas-fork: copy-on-write rootfs forks on real filesystems: overlay on the
# test's tmp dir, btrfs and XFS made on loop devices by the test itself.

load helpers/common

: "${FAAS_FORK:=$FAAS_BIN_DIR/faas-fork}"

setup() {
	faas_setup
	requires root overlay jq python3
	# Whatever a failed test left mounted under its tmp dir goes first
	# (teardown runs these in reverse order, before the tracked mounts).
	faas_on_teardown unmount_under "$FAAS_TMP"
	BASE=$FAAS_TMP/base
	make_base "$BASE"
}

teardown() { faas_teardown; }

# Every mount point under $1, deepest first, unmounted (lazily if busy).
unmount_under() {
	local m
	for m in $(mounts_under "$1" | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

mounts_under() {
	awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo
}

# A small rootfs: every kind of file and metadata a fork must keep.
make_base() {
	local b=$1
	mkdir -p "$b"/etc "$b"/bin "$b"/srv/private "$b"/dev "$b"/data
	echo base >"$b/etc/hostname"
	echo "motd of the base" >"$b/etc/motd"
	printf '#!/bin/sh\necho hi\n' >"$b/bin/hello"
	chmod 0755 "$b/bin/hello"
	chmod 4755 "$b/bin/hello"                   # set-uid survives the chown
	chown 1234:5678 "$b/srv/private"
	chmod 0750 "$b/srv/private"
	echo secret >"$b/srv/private/key"
	chown 1234:5678 "$b/srv/private/key"
	chmod 0640 "$b/srv/private/key"
	ln "$b/etc/motd" "$b/etc/motd.hardlink"   # two names, one inode
	ln -s ../etc/hostname "$b/bin/hostname.rel"
	ln -s /etc/hostname "$b/bin/hostname.abs"
	mknod "$b/dev/null" c 1 3
	mknod "$b/dev/loopish" b 7 200
	mkfifo "$b/dev/fifo"
	"$PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$b/dev/sock"
	setfattr -n user.faas -v forked "$b/etc/hostname"
	setfattr -n trusted.faas -v root-only "$b/etc/motd"
	setfattr -h -n trusted.link -v on-a-symlink "$b/bin/hostname.abs"
	setfacl -m u:4321:rwx "$b/srv/private/key"
	# 8 MiB with one 4 KiB block of data in the middle: a hole each side.
	truncate -s 8M "$b/data/sparse"
	printf 'data' | dd of="$b/data/sparse" bs=4096 seek=1000 conv=notrunc status=none
	touch -h -d '2001-02-03 04:05:06.123456789' "$b/bin/hostname.rel" "$b/etc/hostname"
	touch -d '2002-03-04 05:06:07' "$b/srv/private" "$b/etc" "$b"
}

# One line per entry: type, mode, owner, size (files), links, target,
# device numbers, mtime (ns), xattrs. Two trees print the same iff a fork
# kept everything.
tree_meta() {
	local p
	(
		cd "$1" || exit 1
		find . -mindepth "${2:-0}" \( -type d -printf '%p d %m %U:%G %T@\n' \) -o \
			\( -type f -printf '%p f %m %U:%G %s %n %T@\n' \) -o \
			\( -type l -printf '%p l %U:%G ->%l %T@\n' \) -o \
			-printf '%p %y %m %U:%G %n %T@\n' | sort
		find . \( -type c -o -type b \) -exec stat -c '%n dev %t:%T' {} + | sort
		find . -mindepth "${2:-0}" | sort | while IFS= read -r p; do
			getfattr -h -d -m - -e hex -- "$p" 2>/dev/null | grep -v '^#' | grep . | sort | sed "s|^|$p xattr |"
		done
	)
}

# A `sleep` to be a holder: SLEEPER is its pid once it runs sleep (a signal
# sent before the exec could be caught by the shell's own trap).
start_sleeper() {
	sleep 600 &
	SLEEPER=$!
	faas_track_pid "$SLEEPER"
	retry 100 0.05 grep -qx sleep "/proc/$SLEEPER/comm"
}

# fork [ARGS...]: runs faas-fork, asserts success, sets ID and MERGED.
fork() {
	run_faas "$FAAS_FORK" "$@"
	[ "$status" -eq 0 ]
	ID=$(jq -r .fork.id <<<"$output")
	MERGED=$(jq -r .fork.merged <<<"$output")
	[ -d "$MERGED" ]
}

# A loop device with a fresh filesystem, mounted at $FAAS_TMP/$1; teardown
# unmounts it and detaches the device even when the test failed.
make_loop_fs() {
	local fs=$1 size=$2 img dev
	shift 2
	img=$FAAS_TMP/$fs.img
	truncate -s "$size" "$img"
	dev=$(losetup --find --show "$img")
	faas_on_teardown "losetup -d $dev"
	"mkfs.$fs" -q "$@" "$dev" >/dev/null
	mkdir -p "$FAAS_TMP/$fs"
	mount "$dev" "$FAAS_TMP/$fs"
	faas_track_mount "$FAAS_TMP/$fs"
}

assert_no_fork_left() {
	local state=${1:-$FAAS_STATE_DIR}
	[ -z "$(mounts_under "$state")" ] || { mounts_under "$state" >&2; return 1; }
	[ -z "$(ls -A "$state/forks")" ] || { ls -la "$state/forks" >&2; return 1; }
	run_faas "$FAAS_FORK" ls --json --state-dir "$state"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

fork_record_ok='.v == 1 and (.fork.id | test("^[0-9a-f]{12}$")) and (.fork as $f | $f.merged | endswith("/forks/" + $f.id + "/merged"))
	and (.fork.holder.pid > 0) and (.fork.holder.start_time > 0) and (.timing["fork.total"] >= 0)'

# ---- overlay ----

@test "fork: overlay fork of --base prints the fork record and mounts an overlay" {
	fork --overlay --holder $$ --base "$BASE"
	assert_json_lines "$fork_record_ok"' and .fork.method == "overlay" and .fork.depth == 1
		and .fork.base == "'"$BASE"'" and (.fork.upper | endswith("/upper")) and (.fork.work | endswith("/work"))
		and .fork.holder.pid == '"$$"' and .timing["fork.mount"] > 0'
	[ "$(findmnt -no FSTYPE "$MERGED")" = overlay ]
	# Its layers are on a tmpfs of its own, its dir.
	[ "$(findmnt -no FSTYPE "$(dirname "$MERGED")")" = tmpfs ]
	[ "$(cat "$MERGED/etc/hostname")" = base ]
	# The merged root has the base root's owner and mode.
	[ "$(stat -c %a:%u:%g "$MERGED")" = "$(stat -c %a:%u:%g "$BASE")" ]
	[ "$(tree_meta "$MERGED" 1)" = "$(tree_meta "$BASE" 1)" ]
	# The fork's row is a file in the run dir; a fork of a directory opens
	# no database.
	[ "$(jq -r .state "$FAAS_RUN_DIR/fork-rows/$ID")" = ready ]
	[ ! -e "$FAAS_RUN_DIR/run.db" ]
	[ ! -e "$FAAS_STATE_DIR/state.db" ]
}

@test "fork: a write in an overlay fork is invisible in the base and in a sibling" {
	fork --overlay --base "$BASE"
	local a=$MERGED
	fork --overlay --base "$BASE"
	local b=$MERGED
	echo fork-a >"$a/etc/hostname"
	echo new >"$a/etc/new-file"
	[ "$(cat "$a/etc/hostname")" = fork-a ]
	[ "$(cat "$BASE/etc/hostname")" = base ]
	[ "$(cat "$b/etc/hostname")" = base ]
	[ ! -e "$BASE/etc/new-file" ]
	[ ! -e "$b/etc/new-file" ]
}

@test "fork: a deletion in an overlay fork is a whiteout: the base keeps the file" {
	fork --overlay --base "$BASE"
	local upper
	upper=$(jq -r .fork.upper <<<"$output")
	rm "$MERGED/etc/motd"
	rm -r "$MERGED/srv/private"
	[ ! -e "$MERGED/etc/motd" ]
	[ ! -e "$MERGED/srv/private" ]
	[ "$(cat "$BASE/etc/motd")" = "motd of the base" ]
	[ "$(cat "$BASE/srv/private/key")" = secret ]
	# overlayfs' whiteout: a 0:0 character device in the upper layer.
	[ "$(stat -c %F:%t:%T "$upper/etc/motd")" = "character special file:0:0" ]
}

@test "fork: a fork of a fork stacks the parent's upper as a lower layer, not overlay on overlay" {
	fork --overlay --base "$BASE"
	local parent=$ID parent_rec=$output
	echo parent >"$MERGED/etc/hostname"
	run_faas "$FAAS_FORK" <<<"$parent_rec"
	[ "$status" -eq 0 ]
	assert_json_lines "$fork_record_ok"' and .fork.depth == 2 and .fork.parent == "'"$parent"'"
		and .fork.base == "'"$MERGED"'"'
	local child child_merged parent_upper
	child=$(jq -r .fork.id <<<"$output")
	child_merged=$(jq -r .fork.merged <<<"$output")
	parent_upper=$(jq -r .fork.upper <<<"$parent_rec")
	[ "$(cat "$child_merged/etc/hostname")" = parent ]
	[ "$(cat "$child_merged/etc/motd")" = "motd of the base" ]
	# Lower layers: the parent's upper, then the base; no overlay as a layer.
	local opts
	opts=$(findmnt -no OPTIONS "$child_merged")
	[[ "$opts" == *"lowerdir=$parent_upper:$BASE"* ]] || [[ "$opts" == *"lowerdir+=$parent_upper"* ]] ||
		grep -F "$parent_upper" /proc/self/mountinfo | grep -qF "$child_merged"
	echo child >"$child_merged/etc/hostname"
	[ "$(cat "$MERGED/etc/hostname")" = parent ]
	[ "$(cat "$BASE/etc/hostname")" = base ]
	# A fork of the parent's merged path is the same thing.
	fork --overlay --base "$(jq -r .fork.merged <<<"$parent_rec")"
	[ "$(jq -r .fork.parent <<<"$output")" = "$parent" ]
	local sibling=$ID
	# The parent cannot go while forks stack on it.
	run_faas -75 "$FAAS_FORK" rm "$parent"
	[[ "$stderr" == *"is needed by forks"*"stacked on it"* ]]
	[[ "$stderr" == *"$child"* ]]
	run_faas "$FAAS_FORK" rm "$child" "$sibling"
	[ "$status" -eq 0 ]
	run_faas "$FAAS_FORK" rm "$parent"
	[ "$status" -eq 0 ]
	assert_no_fork_left
}

@test "fork: the overlay depth limit (16) is enforced with a clear error" {
	local rec i
	rec=$("$FAAS_FORK" --overlay --base "$BASE")
	for ((i = 2; i <= 16; i++)); do
		rec=$("$FAAS_FORK" --overlay <<<"$rec")
		[ "$(jq -r .fork.depth <<<"$rec")" -eq "$i" ]
	done
	[ "$(cat "$(jq -r .fork.merged <<<"$rec")/etc/hostname")" = base ]
	run_faas -73 "$FAAS_FORK" --overlay <<<"$rec"
	[[ "$stderr" == *"limit is 16"* ]]
	# A copy starts a new stack.
	run_faas "$FAAS_FORK" --copy <<<"$rec"
	[ "$status" -eq 0 ]
	[ "$(jq -r .fork.depth <<<"$output")" -eq 1 ]
	[ "$(jq '.fork | .upper == null and .work == null' <<<"$output")" = true ]
	[ "$(cat "$(jq -r .fork.merged <<<"$output")/etc/hostname")" = base ]
	# gc removes the whole stack, children first.
	run_faas "$FAAS_FORK" gc --older-than 0 --json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 17 ]
	assert_no_fork_left
}

@test "fork: --upper-tmpfs puts the writable layer on a size-limited tmpfs" {
	fork --overlay --upper-tmpfs 1M --base "$BASE"
	assert_json_lines '.fork.upper_tmpfs == 1048576 and (.fork.upper | endswith("/rw/upper"))'
	local rw
	rw=$(dirname "$(jq -r .fork.upper <<<"$output")")
	# The fork's dir is its tmpfs, of the size asked for.
	[ "$(findmnt -no FSTYPE "$(dirname "$rw")")" = tmpfs ]
	[ "$(findmnt -no FSTYPE -T "$rw")" = tmpfs ]
	[ "$(df -B1 --output=size "$rw" | tail -1 | tr -d ' ')" -eq 1048576 ]
	run ! dd if=/dev/zero of="$MERGED/big" bs=64k count=64 status=none
	[ "$(cat "$BASE/etc/hostname")" = base ]
	run_faas "$FAAS_FORK" rm "$ID"
	[ "$status" -eq 0 ]
	assert_no_fork_left
}

@test "fork: auto picks overlay when the kernel has it" {
	fork --base "$BASE"
	[ "$(jq -r .fork.method <<<"$output")" = overlay ]
}

# ---- rm, ls, gc ----

@test "fork: rm unmounts and deletes the fork and its row; an unknown ID is 66" {
	fork --overlay --base "$BASE"
	local dir
	dir=$(dirname "$MERGED")
	echo x >"$MERGED/written"
	run_faas "$FAAS_FORK" rm "$ID" --json
	[ "$status" -eq 0 ]
	assert_json_lines '.fork.id == "'"$ID"'" and .fork.removed and (.fork.detached | not) and .timing["fork.rm"] >= 0'
	[ ! -e "$dir" ]
	! grep -qF "$dir" /proc/self/mountinfo
	assert_no_fork_left
	run_faas -66 "$FAAS_FORK" rm "$ID"
	[[ "$stderr" == "faas-fork: rm: fork \`$ID\` not found in state" ]]
	[ -d "$BASE/etc" ]
}

@test "fork: rm of a busy fork detaches it lazily and says so" {
	fork --overlay --base "$BASE"
	(cd "$MERGED/etc" && exec sleep 600) &
	local pid=$!
	faas_track_pid "$pid"
	# A function, so that each try reads the link again.
	cwd_is() { [ "$(readlink "/proc/$1/cwd")" = "$2" ]; }
	retry 50 0.1 cwd_is "$pid" "$MERGED/etc"
	run_faas "$FAAS_FORK" rm "$ID" --json
	[ "$status" -eq 0 ]
	assert_json_lines '.fork.removed and .fork.detached'
	[[ "$stderr" == *"busy: detached lazily"* ]]
	assert_no_fork_left
	[ "$(cat "$BASE/etc/hostname")" = base ]
}

@test "fork: rm takes the records on stdin and passes other keys through" {
	fork --overlay --base "$BASE"
	local rec
	rec=$(jq -c '. + {"extra": {"kept": true}}' <<<"$output")
	run_faas "$FAAS_FORK" rm <<<"$rec"
	[ "$status" -eq 0 ]
	assert_json_lines '.fork.removed and .extra.kept and .fork.id == "'"$ID"'"'
	assert_no_fork_left
}

@test "fork: ls prints JSON lines off a terminal, a table with --table" {
	fork --overlay --base "$BASE"
	local a=$ID
	fork --copy --base "$BASE"
	local b=$ID
	run_faas "$FAAS_FORK" ls
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	assert_json_lines '.fork.state == "ready" and (.fork.method == "overlay" or .fork.method == "copy") and (.fork.created_at > 0)'
	run_faas "$FAAS_FORK" ls --table
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "ID "*METHOD*DEPTH*STATE*HOLDER* ]]
	[[ "$output" == *"$a  overlay"* ]]
	[[ "$output" == *"$b  copy"* ]]
}

@test "fork: gc --dead-holders removes the forks whose holder exited, and only those" {
	start_sleeper
	local live=$SLEEPER
	start_sleeper
	local dead=$SLEEPER
	fork --overlay --holder "$live" --base "$BASE"
	local keep=$ID
	fork --overlay --holder "$dead" --base "$BASE"
	local gone=$ID gone_dir
	gone_dir=$(dirname "$MERGED")
	fork --copy --holder "$dead" --base "$BASE"
	local gone2=$ID
	kill "$dead"
	wait "$dead" || true
	run_faas "$FAAS_FORK" gc --dead-holders --json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	assert_json_lines '.fork.removed and .fork.reason == "dead-holder" and (.fork.id == "'"$gone"'" or .fork.id == "'"$gone2"'")'
	[ ! -e "$gone_dir" ]
	! grep -qF "$gone_dir" /proc/self/mountinfo
	run_faas "$FAAS_FORK" ls --json
	[ "${#lines[@]}" -eq 1 ]
	[ "$(jq -r .fork.id <<<"$output")" = "$keep" ]
	# --older-than and --dead-holders together: both must hold.
	run_faas "$FAAS_FORK" gc --older-than 0 --dead-holders --json
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run_faas "$FAAS_FORK" gc --older-than 1h --json
	[ -z "$output" ]
	run_faas "$FAAS_FORK" gc --older-than 0 --json
	[ "$(jq -r .fork.id <<<"$output")" = "$keep" ]
	assert_no_fork_left
	run_faas -64 "$FAAS_FORK" gc --older-than soon
}

@test "fork: rows a run.db of an earlier version holds are moved into the run dir" {
	requires sqlite3
	fork --overlay --holder $$ --base "$BASE"
	local row
	row=$(cat "$FAAS_RUN_DIR/fork-rows/$ID")
	# An earlier version kept the row in run.db's forks table, and had no
	# forks dir in the run dir. (faas-netns makes run.db and its tables.)
	"$FAAS_BIN_DIR/faas-netns" pool ls >/dev/null
	sqlite3 "$FAAS_RUN_DIR/run.db" "INSERT INTO forks (id, method, base, depth, lowers, tmpfs_bytes, state,
		holder_pid, holder_start, created_at) VALUES ('$ID', 'overlay', '$BASE', 1,
		'[\"$BASE\"]', 0, 'ready', $(jq .holder_pid <<<"$row"), $(jq .holder_start <<<"$row"),
		$(jq .created_at <<<"$row"))"
	rm -r "$FAAS_RUN_DIR/fork-rows"
	run_faas "$FAAS_FORK" ls --json
	[ "$(jq -r .fork.id <<<"$output")" = "$ID" ]
	[ "$(jq -r .state "$FAAS_RUN_DIR/fork-rows/$ID")" = ready ]
	[ "$(sqlite3 "$FAAS_RUN_DIR/run.db" 'SELECT count(*) FROM forks')" -eq 0 ]
	run_faas "$FAAS_FORK" rm "$ID"
	assert_no_fork_left
}

@test "fork: gc finishes what an interrupted faas-fork left: rows and directories" {
	fork --overlay --base "$BASE"
	# A process that died half way through: its row says `creating`, and a
	# row it was writing was left aside.
	sh -c 'exit 0' &
	local dead=$!
	wait "$dead"
	local row=$FAAS_RUN_DIR/fork-rows/$ID
	jq -c --argjson pid "$dead" '.state = "creating" | .holder_pid = $pid | .holder_start = 1' "$row" >"$row.new"
	mv "$row.new" "$row"
	echo '{"id":"' >"$FAAS_RUN_DIR/fork-rows/.tmp-0123456789ab-$dead"
	mkdir -p "$FAAS_STATE_DIR/forks/0123456789ab/upper"
	run_faas "$FAAS_FORK" gc --json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r 'select(.fork.id == "'"$ID"'") | .fork.reason' <<<"$output")" = interrupted ]
	[ "$(jq -r 'select(.fork.id == "0123456789ab") | .fork.reason' <<<"$output")" = orphan ]
	# No row, no half-written one, no spare row file (gc deletes them).
	[ -z "$(ls -A "$FAAS_RUN_DIR/fork-rows" | grep -vx .spares)" ]
	[ -z "$(ls -A "$FAAS_RUN_DIR/fork-rows/.spares" 2>/dev/null)" ]
	assert_no_fork_left
}

@test "fork: gc removes an overlay fork left mounted without its row (a crash before the insert or after rm's delete)" {
	requires flock
	fork --overlay --base "$BASE"
	local dir
	dir=$(dirname "$MERGED")
	echo x >"$MERGED/written"
	# An overlay fork's row goes in after its mounts, and rm deletes it before
	# the unmount: a process killed in between leaves exactly this.
	rm "$FAAS_RUN_DIR/fork-rows/$ID"
	# While a maker or remover holds the forks dir's lock, such a directory
	# may be a fork being made: gc leaves it.
	(flock -s 9 && exec sleep 600) 9<"$FAAS_STATE_DIR/forks" &
	local holder=$!
	faas_track_pid "$holder"
	retry 100 0.05 grep -qx sleep "/proc/$holder/comm"
	run_faas "$FAAS_FORK" gc --json
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -d "$MERGED/etc" ]
	kill "$holder"
	wait "$holder" || true
	run_faas "$FAAS_FORK" gc --json
	[ "$status" -eq 0 ]
	assert_json_lines '.fork.id == "'"$ID"'" and .fork.reason == "orphan" and .fork.removed'
	[ ! -e "$dir" ]
	assert_no_fork_left
	[ ! -e "$BASE/written" ]
}

@test "fork: rm keeps an overlay fork's empty directory as a spare, the next fork takes it, gc deletes spares" {
	fork --overlay --base "$BASE"
	local first=$ID ino
	ino=$(stat -c %i "$FAAS_STATE_DIR/forks")
	run_faas "$FAAS_FORK" rm "$first"
	[ "$status" -eq 0 ]
	[ ! -e "$FAAS_STATE_DIR/forks/$first" ]
	[ "$(ls -A "$FAAS_STATE_DIR/fork-spares")" = "$first" ]
	[ -z "$(ls -A "$FAAS_STATE_DIR/fork-spares/$first")" ]
	assert_no_fork_left
	fork --overlay --base "$BASE"
	[ -z "$(ls -A "$FAAS_STATE_DIR/fork-spares")" ]
	[ "$(stat -c %a "$FAAS_STATE_DIR/forks/$ID")" = 700 ]
	[ "$(cat "$MERGED/etc/hostname")" = base ]
	run_faas "$FAAS_FORK" rm "$ID"
	[ -n "$(ls -A "$FAAS_STATE_DIR/fork-spares")" ]
	run_faas "$FAAS_FORK" gc
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$FAAS_STATE_DIR/fork-spares")" ]
	assert_no_fork_left
	[ "$(stat -c %i "$FAAS_STATE_DIR/forks")" = "$ino" ]
}

# ---- copy, reflink, btrfs ----

@test "fork: copy keeps modes, owners, times, xattrs, ACLs, hard links, symlinks, devices and holes" {
	requires setfattr getfattr setfacl
	fork --copy --base "$BASE"
	assert_json_lines "$fork_record_ok"' and .fork.method == "copy" and .fork.upper == null and .timing["fork.clone"] > 0'
	[ "$(findmnt -no TARGET -T "$MERGED")" != "$MERGED" ]
	[ "$(tree_meta "$MERGED")" = "$(tree_meta "$BASE")" ]
	[ "$(stat -c %i "$MERGED/etc/motd")" = "$(stat -c %i "$MERGED/etc/motd.hardlink")" ]
	[ "$(stat -c %i "$MERGED/etc/motd")" != "$(stat -c %i "$BASE/etc/motd")" ]
	# Holes stay holes: 8 MiB apparent, a few KiB allocated.
	[ "$(stat -c %s "$MERGED/data/sparse")" -eq 8388608 ]
	[ "$(stat -c %b "$MERGED/data/sparse")" -le 64 ]
	cmp "$MERGED/data/sparse" "$BASE/data/sparse"
	# A copy is private.
	echo changed >"$MERGED/etc/hostname"
	[ "$(cat "$BASE/etc/hostname")" = base ]
	run_faas "$FAAS_FORK" rm "$ID"
	[ "$status" -eq 0 ]
	assert_no_fork_left
}

@test "fork: copy onto --upper-tmpfs holds the whole copy on a tmpfs" {
	fork --copy --upper-tmpfs 16M --base "$BASE"
	[ "$(findmnt -no FSTYPE "$MERGED")" = tmpfs ]
	[ "$(tree_meta "$MERGED")" = "$(tree_meta "$BASE")" ]
	run_faas "$FAAS_FORK" rm "$ID"
	[ "$status" -eq 0 ]
	assert_no_fork_left
}

@test "fork: reflink on XFS clones every file and keeps all metadata" {
	requires loop xfs filefrag setfattr getfattr setfacl
	make_loop_fs xfs 320M -m reflink=1
	local state=$FAAS_TMP/xfs/state
	make_base "$FAAS_TMP/xfs/base"
	fork --reflink --state-dir "$state" --base "$FAAS_TMP/xfs/base"
	assert_json_lines '.fork.method == "reflink" and .timing["fork.clone"] > 0'
	[ "$(tree_meta "$MERGED")" = "$(tree_meta "$FAAS_TMP/xfs/base")" ]
	[ "$(stat -c %i "$MERGED/etc/motd")" = "$(stat -c %i "$MERGED/etc/motd.hardlink")" ]
	filefrag -v "$MERGED/etc/motd" | grep -q shared
	[ "$(stat -c %b "$MERGED/data/sparse")" -le 64 ]
	echo changed >"$MERGED/etc/motd"
	[ "$(cat "$FAAS_TMP/xfs/base/etc/motd")" = "motd of the base" ]
	# auto on XFS still prefers overlay; rm and the state are per state dir.
	run_faas "$FAAS_FORK" rm --state-dir "$state" "$ID"
	[ "$status" -eq 0 ]
	assert_no_fork_left "$state"
}

@test "fork: reflink on XFS without reflinks is 69 naming xfs, and leaves nothing" {
	requires loop xfs
	make_loop_fs xfs 320M -m reflink=0
	local state=$FAAS_TMP/xfs/state
	make_base "$FAAS_TMP/xfs/base"
	run_faas -69 "$FAAS_FORK" --reflink --state-dir "$state" --base "$FAAS_TMP/xfs/base"
	[[ "$stderr" == *xfs* ]]
	assert_no_fork_left "$state"
}

@test "fork: reflink on ext4 (the tmp dir) is 69 naming the filesystem" {
	local fstype
	fstype=$(findmnt -no FSTYPE -T "$BASE")
	run_faas -69 "$FAAS_FORK" --reflink --base "$BASE"
	[[ "$stderr" == *"is on $fstype, which has no reflinks"* ]]
	assert_no_fork_left
}

@test "fork: btrfs snapshots a subvolume; reflink and copy work on btrfs too" {
	requires loop btrfs setfattr getfattr setfacl
	make_loop_fs btrfs 256M
	local state=$FAAS_TMP/btrfs/state sub=$FAAS_TMP/btrfs/base
	btrfs -q subvolume create "$sub" >/dev/null
	make_base "$sub"
	fork --btrfs --state-dir "$state" --base "$sub"
	assert_json_lines "$fork_record_ok"' and .fork.method == "btrfs" and .timing["fork.snapshot"] > 0'
	local snap=$MERGED snap_id=$ID
	[ "$(stat -c %i "$snap")" -eq 256 ] # the root of a subvolume
	btrfs subvolume show "$snap" >/dev/null
	[ "$(tree_meta "$snap" 1)" = "$(tree_meta "$sub" 1)" ]
	echo snap >"$snap/etc/hostname"
	[ "$(cat "$sub/etc/hostname")" = base ]
	# auto: overlay first, but btrfs and reflink are there when asked.
	fork --reflink --state-dir "$state" --base "$sub"
	[ "$(tree_meta "$MERGED")" = "$(tree_meta "$sub")" ]
	local refl=$ID
	# A btrfs snapshot of a btrfs fork (its merged is a subvolume).
	run_faas "$FAAS_FORK" --btrfs --state-dir "$state" <<<"{\"fork\":{\"id\":\"$snap_id\"}}"
	[ "$status" -eq 0 ]
	[ "$(cat "$(jq -r .fork.merged <<<"$output")/etc/hostname")" = snap ]
	local snap2
	snap2=$(jq -r .fork.id <<<"$output")
	run_faas "$FAAS_FORK" rm --state-dir "$state" "$snap_id" "$refl" "$snap2"
	[ "$status" -eq 0 ]
	assert_no_fork_left "$state"
	[ -z "$(btrfs subvolume list "$FAAS_TMP/btrfs" | grep forks)" ]
}

@test "fork: btrfs on a plain directory or on ext4 is 69 naming the filesystem" {
	requires loop btrfs
	run_faas -69 "$FAAS_FORK" --btrfs --base "$BASE"
	[[ "$stderr" == *"not the root of a btrfs subvolume (it is on $(findmnt -no FSTYPE -T "$BASE"))"* ]]
	make_loop_fs btrfs 256M
	mkdir "$FAAS_TMP/btrfs/plain"
	run_faas -69 "$FAAS_FORK" --btrfs --state-dir "$FAAS_TMP/btrfs/state" --base "$FAAS_TMP/btrfs/plain"
	[[ "$stderr" == *"not the root of a btrfs subvolume (it is on btrfs)"* ]]
	assert_no_fork_left
	assert_no_fork_left "$FAAS_TMP/btrfs/state"
}

# ---- records, safety and errors ----

@test "fork: records on stdin: forks of the forks they name, other keys kept" {
	fork --overlay --base "$BASE"
	local parent=$ID
	run_faas "$FAAS_FORK" --overlay <<EOF
{"v":1,"fork":{"id":"$parent"},"extra":[1,2]}

{"fork":{"id":"$parent"},"timing":{"pool.acquire":12}}
EOF
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	assert_json_lines '.v == 1 and .fork.parent == "'"$parent"'" and .fork.id != "'"$parent"'"'
	[ "$(jq -c .extra <<<"${lines[0]}")" = "[1,2]" ]
	[ "$(jq -r '.timing["pool.acquire"]' <<<"${lines[1]}")" = 12 ]
	[ "$(jq -r .fork.id <<<"${lines[0]}")" != "$(jq -r .fork.id <<<"${lines[1]}")" ]
}

@test "fork: a record whose paths point elsewhere is refused and nothing is touched" {
	# Mounts under this test's directory: other tests mount elsewhere at the
	# same time, so the whole table is no measure.
	mounts_here() { awk -v d="$BATS_TEST_TMPDIR" 'index($5, d) == 1' /proc/self/mountinfo | wc -l; }
	local before
	before=$(mounts_here)
	# An ID that is not in state: nothing to act on.
	run_faas -66 "$FAAS_FORK" rm <<<'{"fork":{"id":"x","merged":"/"}}'
	[[ "$stderr" == *'fork `x` not found in state'* ]]
	run_faas -66 "$FAAS_FORK" <<<'{"fork":{"id":"x","merged":"/"}}'
	run_faas -66 "$FAAS_FORK" rm <<<'{"fork":{"id":"../../..","merged":"/"}}'
	# A real ID with a lying path: refused, the fork stays.
	fork --overlay --base "$BASE"
	run_faas -65 "$FAAS_FORK" rm <<<"{\"fork\":{\"id\":\"$ID\",\"merged\":\"/\"}}"
	[[ "$stderr" == *"stdin line 1: fork \`$ID\`: the record's fork.merged"*"refusing"* ]]
	[ -d "$MERGED/etc" ]
	run_faas -65 "$FAAS_FORK" rm <<<"{\"fork\":{\"id\":\"$ID\",\"upper\":\"$BASE\"}}"
	run_faas -65 "$FAAS_FORK" <<<"{\"fork\":{\"id\":\"$ID\",\"merged\":\"/\"}}"
	[ "$(findmnt -no FSTYPE "$MERGED")" = overlay ]
	# The fork's two mounts: its tmpfs and its overlay.
	[ "$(mounts_here)" -eq $((before + 2)) ]
	[ -d "$BASE/etc" ]
	# A base inside the state dir other than a fork's merged tree.
	run_faas -65 "$FAAS_FORK" --base "$(dirname "$MERGED")/upper"
}

@test "fork: a record naming a sandbox is 66 naming it (no sandboxes in state yet)" {
	run_faas -66 "$FAAS_FORK" <<<'{"v":1,"sandbox":{"id":"sb-42","rootfs":"/"}}'
	[[ "$stderr" == *'sandbox `sb-42` not found in state'* ]]
	run_faas -65 "$FAAS_FORK" <<<'{"v":1,"other":{}}'
	[[ "$stderr" == *"stdin line 1: the record names no fork or sandbox"* ]]
	assert_no_fork_left
}

@test "fork: bad JSON is 65 naming the line; --keep-going prints error records and goes on" {
	run_faas -65 "$FAAS_FORK" --overlay <<<'{"v":1,"fork":'
	[[ "$stderr" == *"stdin line 1"* ]]
	fork --overlay --base "$BASE"
	local parent=$ID
	run_faas -66 "$FAAS_FORK" --overlay --keep-going <<EOF
{"fork":{"id":"0000000000aa"}}
not json
{"fork":{"id":"$parent"},"n":3}
EOF
	[ "${#lines[@]}" -eq 3 ]
	[ "$(jq -r .error.status <<<"${lines[0]}")" = 66 ]
	[ "$(jq -r .error.tool <<<"${lines[0]}")" = faas-fork ]
	[ "$(jq -r .error.status <<<"${lines[1]}")" = 65 ]
	[[ "$(jq -r .error.message <<<"${lines[1]}")" == *"line 2"* ]]
	[ "$(jq -r .fork.parent <<<"${lines[2]}")" = "$parent" ]
	# An error record passes through untouched.
	run_faas "$FAAS_FORK" --overlay <<<"${lines[0]}"
	[ "$status" -eq 0 ]
	[ "$(jq -c . <<<"$output")" = "$(jq -c . <<<"${lines[0]}")" ]
	run_faas -66 "$FAAS_FORK" rm --keep-going --json 0000000000aa "$parent"
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r .error.status <<<"${lines[0]}")" = 66 ]
}

@test "fork: error statuses: base missing 66, not a directory 65, no input 64, bad flags 64" {
	run_faas -66 "$FAAS_FORK" --overlay --base "$FAAS_TMP/nope"
	[[ "$stderr" == "faas-fork: base \`$FAAS_TMP/nope\`: No such file or directory" ]]
	run_faas -65 "$FAAS_FORK" --overlay --base "$BASE/etc/hostname"
	[[ "$stderr" == *"is not a directory"* ]]
	# No --base and stdin closed, or a terminal.
	run_faas -64 bash -c '"$0" --overlay <&-' "$FAAS_FORK"
	[[ "$stderr" == *"give --base DIR or pipe records on stdin"* ]]
	if command -v script >/dev/null; then
		run_faas -64 script -qec "$FAAS_FORK --overlay" /dev/null
	fi
	run_faas -64 bash -c '"$0" rm <&-' "$FAAS_FORK"
	run_faas -64 "$FAAS_FORK" --overlay --copy --base "$BASE"
	[[ "$stderr" == "faas-fork: --overlay conflicts with --copy: give one method" ]]
	run_faas -64 "$FAAS_FORK" --reflink --upper-tmpfs 64M --base "$BASE"
	run_faas -64 "$FAAS_FORK" --upper-tmpfs lots --base "$BASE"
	run_faas -66 "$FAAS_FORK" --holder 999999999 --base "$BASE"
	assert_no_fork_left
}

@test "fork: not root is 77" {
	requires setpriv
	run_faas -77 setpriv --reuid=65534 --regid=65534 --clear-groups "$FAAS_FORK" --overlay --base "$BASE"
	[[ "$stderr" == *"must be root"* ]]
	run_faas -77 setpriv --reuid=65534 --regid=65534 --clear-groups "$FAAS_FORK" rm 0123456789ab
}

@test "fork: a failure half way leaves no directory, mount or row" {
	# A copy that outgrows its tmpfs: fails after the row, the directories
	# and the tmpfs mount were made, and part of the tree was copied.
	head -c 300000 /dev/urandom >"$BASE/data/big"
	run_faas -74 "$FAAS_FORK" --copy --upper-tmpfs 256k --base "$BASE"
	[[ "$stderr" == *"No space left on device"* ]]
	assert_no_fork_left
	# An overlay whose lower layer vanished: fails at the mount, after the
	# row, the directories and the tmpfs.
	fork --overlay --base "$BASE"
	local parent=$ID rec=$output upper
	upper=$(jq -r .fork.upper <<<"$rec")
	mv "$upper" "$upper.away"
	run_faas -66 "$FAAS_FORK" --overlay --upper-tmpfs 1M <<<"$rec"
	[[ "$stderr" == *"mount overlay"* ]]
	mv "$upper.away" "$upper"
	[ "$(ls "$FAAS_STATE_DIR/forks")" = "$parent" ]
	[ "$(mounts_under "$FAAS_STATE_DIR" | sort)" = "$(printf '%s\n%s' "$(dirname "$MERGED")" "$MERGED")" ]
	run_faas "$FAAS_FORK" ls --json
	[ "${#lines[@]}" -eq 1 ]
	run_faas "$FAAS_FORK" rm "$parent"
	[ "$status" -eq 0 ]
	assert_no_fork_left
}

fork_dir_made() { [ -n "$(ls -A "$FAAS_STATE_DIR/forks" 2>/dev/null)" ]; }

@test "fork: a signal while copying undoes the fork, then kills faas-fork" {
	head -c 64M /dev/zero >"$BASE/data/0-big" # copied first: takes a while
	"$FAAS_FORK" --copy --upper-tmpfs 128M --base "$BASE" >"$FAAS_TMP/out" &
	local pid=$!
	faas_track_pid "$pid"
	retry 500 0.01 fork_dir_made
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	if [ "$rc" -eq 143 ]; then
		[ ! -s "$FAAS_TMP/out" ]
		assert_no_fork_left
	else
		# The fork was done before the signal came: whole, and printed.
		[ "$rc" -eq 0 ]
		jq -e '.fork.method == "copy"' "$FAAS_TMP/out"
	fi
}

@test "fork: 32 concurrent forks of one base all succeed with distinct IDs" {
	local i pids=()
	for ((i = 0; i < 32; i++)); do
		"$FAAS_FORK" --overlay --base "$BASE" >"$FAAS_TMP/out.$i" 2>"$FAAS_TMP/err.$i" &
		pids+=($!)
	done
	for ((i = 0; i < 32; i++)); do
		wait "${pids[$i]}" || { cat "$FAAS_TMP/err.$i" >&2; return 1; }
	done
	[ "$(cat "$FAAS_TMP"/out.* | jq -r .fork.id | sort -u | wc -l)" -eq 32 ]
	[ "$(mounts_under "$FAAS_STATE_DIR" | wc -l)" -eq 64 ] # a tmpfs and an overlay each
	run_faas "$FAAS_FORK" ls --json
	[ "${#lines[@]}" -eq 32 ]
	# Removing them concurrently too, through records.
	for ((i = 0; i < 32; i++)); do
		"$FAAS_FORK" rm <"$FAAS_TMP/out.$i" >/dev/null 2>"$FAAS_TMP/err.$i" &
		pids[$i]=$!
	done
	for ((i = 0; i < 32; i++)); do
		wait "${pids[$i]}" || { cat "$FAAS_TMP/err.$i" >&2; return 1; }
	done
	assert_no_fork_left
}

# ---- the benchmark ----

@test "fork: faas-bench run fork times every variant with tiny params and leaves nothing behind" {
	local variants='["mkdir+mount","overlay","overlay-tmpfs","rm","btrfs","btrfs-snapshot","reflink-btrfs","cp-reflink-btrfs","reflink-xfs","cp-reflink-xfs","copy","cp-a"]'
	# The work dir goes under the run dir: everything it made is under $FAAS_TMP.
	run_faas "$FAAS_BENCH" run fork --run-dir "$FAAS_RUN_DIR" --param files=40 --param slow_iterations=1 \
		--iterations 2 --warmup 1 --json
	[ "$status" -eq 0 ]
	assert_json_lines '.v == 1 and .bench.scenario == "fork"'
	[ "$(jq -sc '[.[].bench.variant]' <<<"$output")" = "$variants" ]
	# A variant that ran has a time; one that could not says why.
	assert_json_lines '.bench | if .skipped then (.skipped | length > 0)
		else .p50 > 0 and .p99 >= .p50 and (.command | length > 0) end'
	assert_json_lines '.bench | .skipped or (.variant | test("reflink|copy|cp-a")) or .iterations == 2'
	assert_json_lines '.bench | .skipped or (.variant | test("reflink|copy|cp-a") | not) or (.iterations == 1 and .warmup == 1)'
	[ "$(jq -r 'select(.bench.variant == "mkdir+mount") | .bench.peer' <<<"$output")" = true ]
	[ "$(jq -r 'select(.bench.variant == "overlay") | .bench.vs.baseline' <<<"$output")" = mkdir+mount ]
	# No mount, loop device, fork or file is left.
	[ -z "$(mounts_under "$FAAS_TMP")" ]
	! losetup -l -n -O BACK-FILE 2>/dev/null | grep -qF "$FAAS_TMP/"
	[ -z "$(ls -A "$FAAS_RUN_DIR")" ]
	# A knob it does not know is a usage error naming the valid ones.
	run_faas -64 "$FAAS_BENCH" run fork --param size=1
	[[ "$stderr" == *"valid: files, state, slow_iterations"* ]]
}

@test "fork: a man page with every section" {
	local page=$FAAS_MAN_DIR/faas-fork.1 s
	[ -f "$page" ]
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS METHODS INPUT/OUTPUT "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		grep -q "^\.SH $s\$" "$page" || grep -q "^\.SH \"$s\"\$" "$page" || { echo "no section $s" >&2; return 1; }
	done
}

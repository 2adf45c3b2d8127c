# Shared helpers for faaskit's bats tests. Load with:
#   load helpers/common
# and call faas_setup / faas_teardown from setup() / teardown().
set -u
bats_require_minimum_version 1.5.0

: "${FAAS_SOURCE_DIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
: "${FAAS_BUILD_DIR:=$FAAS_SOURCE_DIR/build}"
: "${FAAS_BIN_DIR:=$FAAS_BUILD_DIR/bin}"
: "${FAAS_MAN_DIR:=$FAAS_BUILD_DIR/man}"
: "${FAAS_TOOLS:=faas-init faas-bench}"
# Every binary can be overridden from the environment (an installed build).
: "${FAAS_INIT:=$FAAS_BIN_DIR/faas-init}"
: "${FAAS_BENCH:=$FAAS_BIN_DIR/faas-bench}"
: "${FAAS_EXAMPLES_BIN:=$FAAS_BUILD_DIR/examples}"
PYTHON=/usr/bin/python3 # not a version-manager shim: 8 ms, not 117 ms

# Skips with a reason; under FAAS_REQUIRE_FEATURES=1 (CI) a skip is a
# failure, because the machines CI runs on have every feature.
faas_skip() {
	if [ "${FAAS_REQUIRE_FEATURES:-0}" = 1 ]; then
		echo "missing feature with FAAS_REQUIRE_FEATURES=1: $*" >&2
		return 1
	fi
	skip "$*"
}

# requires FEATURE...: skip (with the reason) unless every feature is here.
# An unknown feature name is a bug in the test: it fails.
requires() {
	local f
	for f in "$@"; do
		case "$f" in
		root) [ "$(id -u)" -eq 0 ] || faas_skip "requires root" ;;
		python3) [ -x "$PYTHON" ] || faas_skip "requires $PYTHON" ;;
		node) command -v node >/dev/null || faas_skip "requires node (Debian nodejs)" ;;
		cc) command -v cc >/dev/null || faas_skip "requires a C compiler" ;;
		tini) command -v tini-static >/dev/null || command -v tini >/dev/null || faas_skip "requires tini" ;;
		dumb-init | catatonit | curl | jq | busybox | unshare | nsenter | hyperfine | scdoc | crun | runc | bwrap)
			command -v "$f" >/dev/null || faas_skip "requires $f" ;;
		pidns | mntns | userns | netns)
			[ -e "/proc/self/ns/${f%ns}" ] || faas_skip "requires ${f} support in the kernel" ;;
		overlay) grep -qw overlay /proc/filesystems || faas_skip "requires overlayfs" ;;
		ksm) [ -e /sys/kernel/mm/ksm/run ] || faas_skip "requires KSM (/sys/kernel/mm/ksm)" ;;
		ksm-merge-any) grep -qs '^ksm_merge_any' /proc/self/ksm_stat || faas_skip "requires prctl(PR_SET_MEMORY_MERGE) (Linux 6.4 or later)" ;;
		idmap) [ "$(uname -r | awk -F. '{print ($1 * 1000 + $2 >= 5012)}')" = 1 ] || faas_skip "requires idmapped mounts (Linux 5.12 or later)" ;;
		thp) [ -e /sys/kernel/mm/transparent_hugepage/enabled ] || faas_skip "requires transparent huge pages" ;;
		zram) [ -e /sys/class/zram-control/hot_add ] || faas_skip "requires zram (/sys/class/zram-control)" ;;
		memcg) grep -qw memory /proc/cgroups 2>/dev/null || faas_skip "requires the memory cgroup controller" ;;
		btrfs | xfs) grep -qw "$f" /proc/filesystems && command -v "mkfs.$f" >/dev/null || faas_skip "requires $f (kernel support and mkfs.$f)" ;;
		loop) [ -e /dev/loop-control ] && command -v losetup >/dev/null || faas_skip "requires loop devices (losetup)" ;;
		setfattr | getfattr | setfacl | filefrag | script | setpriv | sqlite3 | flock) command -v "$f" >/dev/null || faas_skip "requires $f" ;;
		ip) command -v ip >/dev/null || faas_skip "requires ip (iproute2)" ;;
		*)
			echo "requires: unknown feature \`$f'" >&2
			return 1
			;;
		esac
	done
}

# A private temp root, state dir and run dir per test.
faas_setup() {
	FAAS_TMP=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/faas.XXXXXX")
	export FAAS_STATE_DIR="$FAAS_TMP/state"
	export FAAS_RUN_DIR="$FAAS_TMP/run"
	mkdir -p "$FAAS_STATE_DIR" "$FAAS_RUN_DIR"
	FAAS_CLEANUP_PIDS=()
	FAAS_CLEANUP_MOUNTS=()
	FAAS_CLEANUP_NETNS=()
	FAAS_CLEANUP_CMDS=()
}

# Register things for teardown to remove, even when the test failed.
faas_track_pid() { FAAS_CLEANUP_PIDS+=("$@"); }
faas_track_mount() { FAAS_CLEANUP_MOUNTS+=("$@"); }
faas_track_netns() { FAAS_CLEANUP_NETNS+=("$@"); }
faas_on_teardown() { FAAS_CLEANUP_CMDS+=("$*"); }

faas_teardown() {
	local p m n c i
	for ((i = ${#FAAS_CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do
		eval "${FAAS_CLEANUP_CMDS[$i]}" || true
	done
	for p in "${FAAS_CLEANUP_PIDS[@]}"; do
		# Only the PIDs this test started, and never PID 1.
		[ "$p" -gt 1 ] 2>/dev/null || continue
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in "${FAAS_CLEANUP_PIDS[@]}"; do
		[ "$p" -gt 1 ] 2>/dev/null || continue
		wait "$p" 2>/dev/null || true
	done
	for ((i = ${#FAAS_CLEANUP_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${FAAS_CLEANUP_MOUNTS[$i]}
		mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null || true
	done
	for n in "${FAAS_CLEANUP_NETNS[@]}"; do
		ip netns delete "$n" 2>/dev/null || true
	done
	[ -n "${FAAS_TMP:-}" ] && rm -rf "$FAAS_TMP"
	return 0
}

# run_faas [-N|!] CMD...: bats `run --separate-stderr`, then logs the command,
# status, stdout and stderr (bats shows them only when the test fails).
run_faas() {
	local expect=()
	case "${1:-}" in
	-[0-9]* | '!') expect=("$1"); shift ;;
	esac
	run "${expect[@]}" --separate-stderr "$@"
	{
		printf '# command: %q' "$1"; shift; printf ' %q' "$@"; printf '\n'
		printf '# status: %s\n' "$status"
		printf '# stdout:\n%s\n' "$output"
		printf '# stderr:\n%s\n' "$stderr"
	} >&2
}

# retry N DELAY CMD...: run CMD until it succeeds, at most N times, sleeping
# DELAY seconds between tries (bounded polling, never a guessed sleep).
# The bound is scaled by FAAS_RETRY_SCALE (default 4): a loaded CI machine
# is slower than the one the bound was chosen on, and a generous bound costs
# time only when the test is failing anyway.
retry() {
	local n=$(($1 * ${FAAS_RETRY_SCALE:-4})) delay=$2 i
	shift 2
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep "$delay"
	done
	echo "retry: gave up after $n tries: $*" >&2
	return 1
}

# Asserts every line of $output is a JSON object satisfying the jq filter.
assert_json_lines() {
	local filter=$1 line n=0
	while IFS= read -r line; do
		[ -z "$line" ] && continue
		n=$((n + 1))
		if ! jq -e "$filter" >/dev/null <<<"$line"; then
			echo "line $n fails \`$filter': $line" >&2
			return 1
		fi
	done <<<"$output"
	[ "$n" -gt 0 ] || { echo "no JSON lines in output" >&2; return 1; }
}

#!/usr/bin/env bats
# faas-bench: one record per variant with its statistics in order, a peer that
# is not installed skipped with a reason, the usage errors, and a handler that
# answers garbage. No timing thresholds: timed assertions do not belong here.

load helpers/common

setup() {
	faas_setup
	HANDLER="$FAAS_EXAMPLES_BIN/hello-c"
	[ -x "$HANDLER" ] || { echo "not built: $HANDLER" >&2; return 1; }
	[ -x "$FAAS_INIT" ] || { echo "not built: $FAAS_INIT" >&2; return 1; }
	NO_PEERS="$FAAS_TMP/no-peers" # a --peer-path where no peer is installed
	mkdir -p "$NO_PEERS"
}
teardown() { faas_teardown; }

# bench ARGS...: faas-bench with the handler and faas-init of this build.
bench() {
	local sub=$1
	shift
	run_faas "$FAAS_BENCH" "$sub" "$@" --handler "$HANDLER" --faas-init "$FAAS_INIT"
}

# Every line: a skipped variant with its reason, or statistics in order.
STATS='.v == 1 and (.bench | (.skipped | type == "string" and length > 0)
	or (.iterations == 5 and .warmup == 1 and .unit == "us"
	and .min > 0 and .min <= .p50 and .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max
	and .min <= .mean and .mean <= .max and .stddev >= 0
	and .vs.ratio_p50 > 0 and (.vs.delta_p50_us | type == "number")
	and (.command | length > 0)))'

variants() { jq -r .bench.variant <<<"$output" | paste -sd' '; }

# one SELECT FILTER: exactly one record of $output matches SELECT, and FILTER
# holds for it.
one() {
	jq -e -s "map(select($1)) | length == 1 and (.[0] | $2)" <<<"$output" >/dev/null ||
		{ echo "no single record with \`$1' satisfying \`$2'" >&2; return 1; }
}

# A handler script: $1 is the shell code that writes the response to stdout.
make_handler() {
	local path="$FAAS_TMP/$1"
	printf '#!/bin/sh\nexec 1>&"$FAAS_CLIENT_FD"\n%s\n' "$2" >"$path"
	chmod +x "$path"
	echo "$path"
}

@test "faas-bench init: one record per variant, statistics in order, against direct" {
	bench run init --iterations 5 --warmup 1 --json
	[ "$status" -eq 0 ]
	assert_json_lines "$STATS"
	assert_json_lines '.bench.scenario == "init" and (.bench.skipped or .bench.vs.baseline == "direct")'
	[ "$(variants)" = "direct faas-init tini dumb-init catatonit python-init" ]
	# The baseline and faaskit's own init are always measured.
	one '.bench.variant == "direct"' '.bench.peer == false and .bench.vs.ratio_p50 == 1'
	one '.bench.variant == "faas-init"' '.bench.p50 > 0 and (.bench.command | contains("--connect"))'
	[ -z "$stderr" ]
}

@test "faas-bench init: the records pass the record schema" {
	requires python3
	bench run init --iterations 5 --warmup 1 --json
	[ "$status" -eq 0 ]
	run_faas "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py" <<<"$output"
	[ "$status" -eq 0 ]
}

@test "faas-bench init: a peer that is not installed is skipped with a reason" {
	bench run init --iterations 5 --warmup 1 --json --peer-path "$NO_PEERS"
	[ "$status" -eq 0 ]
	assert_json_lines "$STATS"
	local p
	for p in tini dumb-init catatonit; do
		one ".bench.variant == \"$p\"" ".bench.peer and .bench.p50 == null and
			.bench.skipped == \"$p not installed (Debian package $p)\""
	done
	one '.bench.variant == "faas-init"' '.bench.p50 > 0'
}

@test "faas-bench init: a peer asked for by name that is not installed exits 69 after its record" {
	bench run init --iterations 5 --warmup 1 --json --peer-path "$NO_PEERS" --variant tini
	[ "$status" -eq 69 ]
	[ "$(variants)" = "direct tini" ]
	assert_json_lines "$STATS"
}

@test "faas-bench init: --pidns runs every variant in a new pid namespace" {
	requires root pidns
	# Answers only as PID 1 or 2: true in a new pid namespace, never outside.
	local h
	h=$(make_handler pidns.sh 'if [ $$ -le 2 ]; then printf "HTTP/1.0 200 OK\r\n\r\n"; else printf "pid %s\r\n" $$; fi')
	run_faas "$FAAS_BENCH" run init --iterations 5 --warmup 1 --json --pidns --handler "$h" --faas-init "$FAAS_INIT"
	[ "$status" -eq 0 ]
	assert_json_lines "$STATS"
	assert_json_lines '.bench.skipped or .bench.pidns == true'
	run_faas -70 "$FAAS_BENCH" run init --iterations 1 --warmup 0 --json --handler "$h" --faas-init "$FAAS_INIT"
	[[ "$stderr" == *"variant direct"*"got \`pid "* ]]
}

@test "faas-bench startup: every tool built next to faas-bench against /bin/true" {
	bench run startup --iterations 5 --warmup 1 --json
	[ "$status" -eq 0 ]
	assert_json_lines "$STATS"
	assert_json_lines '.bench.scenario == "startup" and .bench.vs.baseline == "true"'
	local v
	v=$(variants)
	[[ "$v" == "true "* ]]
	[[ " $v " == *" faas-bench "* ]]
	[[ " $v " == *" faas-init "* ]]
	one '.bench.variant == "faas-init"' '.bench.command | endswith("faas-init --version")'
}

@test "faas-bench: an unknown scenario exits 64 naming the valid ones" {
	bench run no-such-scenario
	[ "$status" -eq 64 ]
	[[ "$stderr" == "faas-bench: "*"no-such-scenario"*"init, startup"* ]]
	[ -z "$output" ]
}

@test "faas-bench: --iterations 0 and an unknown variant exit 64" {
	bench run init --iterations 0
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--iterations"* ]]
	bench run init --variant no-such-variant
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"no-such-variant"*"faas-init"* ]]
	bench run
	[ "$status" -eq 64 ]
	[ -z "$output" ]
}

@test "faas-bench: --table prints a header line and one row per variant" {
	bench run init --iterations 5 --warmup 1 --table --peer-path "$NO_PEERS" --variant faas-init
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^SCENARIO\ +VARIANT\ +PEER\ +P50_US\ +P90_US\ +P99_US ]]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[1]}" =~ ^init\ +direct\  ]]
	[[ "${lines[2]}" =~ ^init\ +faas-init\  ]]
}

@test "faas-bench: a handler that answers garbage fails the run naming the variant" {
	local h
	h=$(make_handler garbage.sh 'printf "garbage\r\n"')
	run_faas "$FAAS_BENCH" run init --iterations 5 --warmup 1 --json --handler "$h" --faas-init "$FAAS_INIT"
	[ "$status" -eq 70 ]
	[[ "$stderr" == "faas-bench: "*"variant direct"*"HTTP/1."*"garbage"* ]]
	[ -z "$output" ]
}

@test "faas-bench: with --keep-going each failing variant gets an error object" {
	local h
	h=$(make_handler garbage.sh 'printf "garbage\r\n"')
	run_faas "$FAAS_BENCH" run init --iterations 5 --warmup 1 --json --keep-going \
		--peer-path "$NO_PEERS" --handler "$h" --faas-init "$FAAS_INIT"
	[ "$status" -eq 70 ]
	assert_json_lines '.bench.skipped or (. as $r | .error.status == 70 and
		(.error.message | contains("variant " + $r.bench.variant)) and .bench.p50 == null)'
	[ "$(variants)" = "direct faas-init tini dumb-init catatonit python-init" ]
}

@test "faas-bench: a handler that exits non-zero fails the run with its status" {
	local h
	h=$(make_handler fails.sh 'exit 3')
	run_faas "$FAAS_BENCH" run init --iterations 1 --warmup 0 --json --handler "$h" --faas-init "$FAAS_INIT" --variant faas-init
	[ "$status" -eq 70 ]
	[[ "$stderr" == *"variant direct"*"exited 3"* ]]
}

@test "faas-bench: a missing handler exits 66 naming it" {
	run_faas "$FAAS_BENCH" run init --handler "$FAAS_TMP/no-such-handler" --faas-init "$FAAS_INIT"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"no-such-handler"* ]]
}

@test "faas-bench ls: every scenario's variants and whether each peer is installed" {
	bench ls --json --peer-path "$NO_PEERS"
	[ "$status" -eq 0 ]
	assert_json_lines '.v == 1 and (.bench.installed | type == "boolean") and (.bench.baseline | type == "boolean")'
	one '.bench.variant == "tini"' '.bench.installed == false and (.bench.skipped | contains("not installed"))'
	one '.bench.scenario == "startup" and .bench.variant == "faas-init"' '.bench.installed'
	bench ls --table
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^SCENARIO\ +VARIANT\ +PEER\ +INSTALLED ]]
}

# What a pool scenario could leave behind, named on stderr: faaskit processes
# that mention this test's temp dir (argv, environment or mounts: a
# sandbox's init sees its rootfs there), mounts under it, the run's private
# work dir, and faas cgroups made since `before` (the list in $1) that hold
# no process (a sandbox's, left behind).
bench_leftovers() {
	local before=$1 p left=0 c
	for p in /proc/[0-9]*; do
		case "$(cat "$p/comm" 2>/dev/null)" in
		faas-init | faas-invoke | faas-pool | faas-fork | faas-bench | python3 | hello-c) ;;
		*) continue ;;
		esac
		if grep -qsF "$FAAS_TMP" "$p/cmdline" "$p/environ" "$p/mountinfo"; then
			echo "left running: ${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" >&2
			left=1
		fi
	done
	if grep -qF " $FAAS_TMP" /proc/self/mountinfo; then
		grep -F " $FAAS_TMP" /proc/self/mountinfo >&2
		left=1
	fi
	if [ -n "$(ls -A "$FAAS_RUN_DIR")" ]; then
		echo "left in the run dir: $(ls -A "$FAAS_RUN_DIR")" >&2
		left=1
	fi
	for c in /sys/fs/cgroup/*/faas/* /sys/fs/cgroup/faas/*; do
		[ -d "$c" ] && ! grep -qxF "$c" <<<"$before" && [ ! -s "$c/cgroup.procs" ] || continue
		echo "left cgroup: $c" >&2
		left=1
	done
	return "$left"
}

faas_cgroups() { ls -d /sys/fs/cgroup/*/faas/* /sys/fs/cgroup/faas/* 2>/dev/null || true; }

@test "faas-bench warm: the pipeline and its parts against fork+exec, nothing left behind" {
	requires root pidns mntns netns overlay busybox memcg
	local before
	before=$(faas_cgroups)
	bench run warm --iterations 3 --warmup 1 --json --param pool_size=1
	[ "$status" -eq 0 ]
	[ "$(variants)" = "fork+exec pipeline pipeline-nofork acquire fork invoke release" ]
	assert_json_lines '.bench.scenario == "warm" and .bench.iterations == 3 and .bench.unit == "us"
		and .bench.min > 0 and .bench.p50 <= .bench.p99 and .bench.vs.baseline == "fork+exec"'
	one '.bench.variant == "pipeline"' '.bench.command == "faas-pool acquire bench-warm | faas-fork --overlay | faas-invoke --http GET / --release"'
	one '.bench.variant == "pipeline-nofork"' '.bench.command | contains("faas-fork") | not'
	retry 20 0.1 bench_leftovers "$before"
	run_faas "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py" <<<"$output"
	[ "$status" -eq 0 ]
}

@test "faas-bench gateway: requests/s and latency of each server, stopped and cleaned at the end" {
	requires root pidns mntns netns busybox memcg
	local before
	before=$(faas_cgroups)
	bench run gateway --json --param concurrency=2 --param duration=1 --param warmup=0 --param rounds=1
	[ "$status" -eq 0 ]
	[ "$(variants)" = "fork+exec faas-invoke-serve gateway.py" ]
	assert_json_lines '.bench.scenario == "gateway" and (.bench.skipped or (.bench.concurrency == 2
		and .bench.requests > 0 and .bench.errors == 0 and .bench.rps > 0 and .bench.unit == "us"
		and .bench.iterations == .bench.requests and .bench.min <= .bench.p50
		and .bench.p50 <= .bench.p90 and .bench.p90 <= .bench.p99 and .bench.p99 <= .bench.max
		and .bench.vs.baseline == "fork+exec" and .bench.vs.ratio_rps > 0))'
	one '.bench.variant == "faas-invoke-serve"' '.bench.server_errors == 0 and (.bench.command | startswith("faas-invoke serve"))'
	retry 20 0.1 bench_leftovers "$before"
	run_faas "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py" <<<"$output"
	[ "$status" -eq 0 ]
	# A bad knob is a usage error naming the valid ones.
	bench run gateway --param nope=1
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"concurrency"* ]]
}

@test "faas-bench cold: each variant measured or skipped with a reason, and nothing left behind" {
	requires root pidns mntns netns
	bench run cold --iterations 2 --warmup 0 --json --param docker_iterations=1
	[ "$status" -eq 0 ]
	[ "$(variants)" = "fork+exec native native-netns native-acquire native-pipeline unshare+chroot bubblewrap crun runc docker" ]
	assert_json_lines '.bench.scenario == "cold" and ((.bench.skipped | type == "string" and length > 0)
		or (.bench.iterations >= 1 and .bench.min > 0 and .bench.p50 <= .bench.max
		and (.bench.command | length > 0)))'
	assert_json_lines '.bench.skipped or .bench.variant != "docker" or .bench.iterations == 1'
	# faaskit's own variants always run as root.
	local v
	for v in native native-netns native-acquire native-pipeline; do
		one ".bench.variant == \"$v\"" '.bench.peer == false and .bench.p50 > 0'
	done
	# native-netns's faas-netns pool (namespaces, bridge, veths) was
	# removed: the bench warns when `pool rm` fails.
	[[ "$stderr" != *"remove netns pool"* ]]
	# Nothing left: the work dir, its mounts, processes, containers' and
	# dockerd's cgroups.
	[ -z "$(ls -A "$FAAS_RUN_DIR")" ]
	if grep " $FAAS_TMP" /proc/self/mountinfo >&2; then return 1; fi
	if pgrep -af "$FAAS_TMP" >&2; then return 1; fi
	if ls -d /sys/fs/cgroup/*/faas-bench-cold-* >&2 2>/dev/null; then return 1; fi
}

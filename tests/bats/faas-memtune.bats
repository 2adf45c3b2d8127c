#!/usr/bin/env bats
# faas-memtune against this machine's real /sys: KSM, THP, zram and a
# sandbox cgroup. Every test saves each kernel value it may change and puts
# it back in teardown, also when it fails; no swap stays on a zram device.

load helpers/common

: "${FAAS_MEMTUNE:=$FAAS_BIN_DIR/faas-memtune}"
MT=$FAAS_MEMTUNE
KSM=/sys/kernel/mm/ksm
THP=/sys/kernel/mm/transparent_hugepage

setup() { faas_setup; }
teardown() { faas_teardown; }

# The selected word of a "[bracketed]" choice file, or the whole value.
knob() {
	local v
	v=$(cat "$1")
	case "$v" in *\[*) v=${v#*\[} && v=${v%%\]*} ;; esac
	printf '%s\n' "$v"
}

# save_knob FILE...: teardown writes each FILE's current value back. Teardown
# runs in reverse order, so save KSM's run first: it is restored last.
save_knob() {
	local f
	for f in "$@"; do
		faas_on_teardown "echo $(printf %q "$(knob "$f")") > $(printf %q "$f")"
	done
}

# save_ksm [unmerge]: with unmerge, teardown first writes run=2 to unmerge
# what the test merged, then the saved run.
save_ksm() {
	faas_on_teardown "echo $(knob $KSM/run) > $KSM/run"
	[ "${1:-}" != unmerge ] || faas_on_teardown "echo 2 > $KSM/run"
	save_knob $KSM/pages_to_scan $KSM/sleep_millisecs
}

zram_ids() { ls /sys/block | sed -n 's/^zram\([0-9]*\)$/\1/p' | sort -n; }

# Teardown removes every zram device this test added (found by comparing
# with the devices there now and by its unique disksize), swapoff first.
track_new_zram() {
	local size=$1
	faas_on_teardown "cleanup_zram '$(zram_ids | tr '\n' ' ')' $size"
}
cleanup_zram() {
	local before=" $1 " size=$2 id
	for id in $(zram_ids); do
		[[ "$before" == *" $id "* ]] && continue
		[ "$(cat /sys/block/zram$id/disksize)" = "$size" ] || continue
		swapoff /dev/zram$id 2>/dev/null || true
		echo "$id" >/sys/class/zram-control/hot_remove || true
	done
}

# The v1 or v2 directory where the memory controller is mounted.
memcg_mount() {
	local m
	for m in /sys/fs/cgroup /sys/fs/cgroup/unified; do
		if grep -qw memory "$m/cgroup.controllers" 2>/dev/null; then
			echo "$m"
			return
		fi
	done
	awk '$9 == "cgroup" && $NF ~ /(^|,)memory(,|$)/ { print $5; exit }' /proc/self/mountinfo
}

# A real cgroup beneath <memory>/faas for this test, removed at teardown.
make_test_cgroup() {
	local mount parent
	mount=$(memcg_mount)
	[ -n "$mount" ] || faas_skip "no memory cgroup mounted"
	parent=$mount/faas
	if [ ! -d "$parent" ]; then
		mkdir "$parent"
		faas_on_teardown "rmdir $parent 2>/dev/null || true"
	fi
	CG_NAME=bats-$$-$BATS_TEST_NUMBER
	CG_DIR=$parent/$CG_NAME
	mkdir "$CG_DIR"
	faas_on_teardown "rmdir $CG_DIR"
	if [ -e "$CG_DIR/memory.max" ]; then CG_MAX=memory.max CG_HIGH=memory.high; else
		CG_MAX=memory.limit_in_bytes CG_HIGH=memory.soft_limit_in_bytes; fi
}

@test "memtune status: one record with every documented key" {
	requires ksm thp jq
	run_faas "$MT" status --json
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 1 ]
	assert_json_lines '.v == 1 and (.mem.ksm | has("run") and has("pages_to_scan") and has("sleep_millisecs")
		and has("pages_shared") and has("pages_sharing") and has("pages_unshared") and has("pages_volatile")
		and has("general_profit") and has("full_scans") and has("saved_bytes") and has("ratio"))
		and (.mem.thp | has("enabled") and has("defrag")) and (.mem.zram | type == "array")
		and (.mem.sandboxes | type == "array")'
	assert_json_lines ".mem.ksm.run == $(cat $KSM/run) and .mem.thp.enabled == \"$(knob $THP/enabled)\""
	run_faas "$MT" status --table
	[ "$status" -eq 0 ]
	[[ "$output" == *"PAGES_TO_SCAN"* && "$output" == *"THP ENABLED"* && "$output" == *"ZRAM"* ]]
}

@test "memtune status --watch: a record per interval until interrupted, then exit 0" {
	requires ksm jq
	run_faas timeout --preserve-status -s INT 1 "$MT" status --json --watch 200ms
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -ge 2 ]
	assert_json_lines '.mem.ksm.run != null'
}

@test "memtune status --sysfs-root: parses a fake tree, and refuses to write through it" {
	requires jq
	local root=$FAAS_TMP/sys
	mkdir -p $root/kernel/mm/ksm $root/kernel/mm/transparent_hugepage $root/block/zram7
	for f in run pages_to_scan sleep_millisecs pages_shared pages_sharing pages_unshared \
		pages_volatile full_scans; do echo 3 >$root/kernel/mm/ksm/$f; done
	echo 'always defer [madvise] never' >$root/kernel/mm/transparent_hugepage/defrag
	echo '[always] madvise never' >$root/kernel/mm/transparent_hugepage/enabled
	echo 1048576 >$root/block/zram7/disksize
	echo 'lzo [zstd]' >$root/block/zram7/comp_algorithm
	echo '4096 1024 8192 0 8192 0 0 0 0' >$root/block/zram7/mm_stat
	echo 253:99 >$root/block/zram7/dev
	run_faas "$MT" status --json --sysfs-root "$root"
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.ksm.pages_sharing == 3 and .mem.ksm.saved_bytes == 12288 and .mem.ksm.ratio == 1
		and .mem.ksm.general_profit == null and .mem.thp.enabled == "always"
		and .mem.zram == [{"dev":"zram7","disksize":1048576,"algorithm":"zstd","orig_bytes":4096,
		"compr_bytes":1024,"mem_used":8192,"ratio":4,"swap":false}]'
	run_faas -64 "$MT" ksm on --sysfs-root "$root"
	[ "$(cat $root/kernel/mm/ksm/run)" = 3 ]
}

@test "memtune ksm on/off: change the real run file, before and after in the record" {
	requires root ksm jq
	save_ksm
	echo 0 >$KSM/run
	run_faas "$MT" ksm on
	[ "$status" -eq 0 ]
	[ "$(cat $KSM/run)" = 1 ]
	assert_json_lines '.mem.op == "ksm.on" and .mem.dry_run == false
		and .mem.changes == [{"knob":"/sys/kernel/mm/ksm/run","before":0,"after":1}]'
	run_faas "$MT" ksm off
	[ "$status" -eq 0 ]
	[ "$(cat $KSM/run)" = 0 ]
	assert_json_lines '.mem.op == "ksm.off" and .mem.changes[0].before == 1 and .mem.changes[0].after == 0'
}

@test "memtune ksm tune --once: applies the ksmtuned decision to the real files" {
	requires root ksm jq
	save_ksm
	echo 0 >$KSM/run
	echo 100 >$KSM/pages_to_scan
	# A threshold of all memory means memory is short: start and boost.
	run_faas "$MT" ksm tune --once --thres-coef 100
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.op == "ksm.tune" and .mem.tune.reason == "boost" and .mem.tune.run == 1
		and .mem.tune.pages_to_scan == 400'
	[ "$(cat $KSM/run)" = 1 ]
	[ "$(cat $KSM/pages_to_scan)" = 400 ]
	[ "$(cat $KSM/sleep_millisecs)" = "$(jq -r .mem.tune.sleep_millisecs <<<"$output")" ]
	# Again, with the boost capped by --npages-max. KSM stopped, so that the
	# dedup-ratio rule (armed by full_scans, a counter since boot) stays out.
	echo 0 >$KSM/run
	run_faas "$MT" ksm tune --once --thres-coef 100 --npages-max 500
	[ "$(cat $KSM/pages_to_scan)" = 500 ]
	# The threshold at 0%: plenty of memory, nothing committed past it: stop.
	run_faas "$MT" ksm tune --once --thres-coef 0 --npages-min 0
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.tune.reason == "idle" and .mem.tune.run == 0'
	[ "$(cat $KSM/run)" = 0 ]
	run_faas -64 "$MT" ksm tune --once --thres-coef 101
	run_faas -64 "$MT" ksm tune --once --interval 5s
}

@test "memtune ksm tune --interval: one record per decision until interrupted" {
	requires root ksm jq
	save_ksm
	run_faas timeout --preserve-status -s TERM 1 "$MT" ksm tune --interval 200ms --thres-coef 100
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -ge 2 ]
	assert_json_lines '.mem.op == "ksm.tune" and (.mem.tune.reason | IN("boost", "decay", "low_ratio"))'
}

@test "memtune ksm merge: the command runs mergeable (chain loading); exec failures are 126/127" {
	requires ksm python3
	run_faas "$MT" ksm merge -- "$PYTHON" -c 'import ctypes, sys; print(ctypes.CDLL(None).prctl(68, 0, 0, 0, 0), sys.argv[1:])' -- a --dry-run
	[ "$status" -eq 0 ]
	[ "$output" = "1 ['--', 'a', '--dry-run']" ]
	run_faas "$PYTHON" -c 'import ctypes; print(ctypes.CDLL(None).prctl(68, 0, 0, 0, 0))'
	[ "$output" = 0 ]
	run_faas -127 "$MT" ksm merge -- /nonexistent/cmd
	[[ "$stderr" == *"/nonexistent/cmd"* ]]
	echo data >"$FAAS_TMP/not-executable"
	run_faas -126 "$MT" ksm merge -- "$FAAS_TMP/not-executable"
	run_faas -64 "$MT" ksm merge
}

@test "memtune ksm merge: identical processes share pages once KSM runs" {
	requires root ksm python3
	save_ksm unmerge
	local pids=() _
	for _ in 1 2 3; do
		"$MT" ksm merge -- "$PYTHON" -c 'import time; b = bytearray(b"faas" * (1 << 20)); time.sleep(60)' &
		pids+=($!)
		faas_track_pid $!
	done
	echo 2000 >$KSM/pages_to_scan
	echo 10 >$KSM/sleep_millisecs
	run_faas "$MT" ksm on
	merged() {
		local p
		for p in "${pids[@]}"; do [ "$(cat /proc/$p/ksm_merging_pages)" -gt 256 ] || return 1; done
	}
	retry 100 0.2 merged
	run_faas "$MT" status --json
	assert_json_lines '.mem.ksm.pages_sharing > 0 and .mem.ksm.saved_bytes == .mem.ksm.pages_sharing * 4096'
}

@test "memtune ksm merge --no-aslr: the command runs mergeable without address randomisation" {
	requires python3
	run_faas "$MT" ksm merge --no-aslr -- cat /proc/self/personality
	[ "$status" -eq 0 ]
	# ADDR_NO_RANDOMIZE is 0x0040000.
	[ $((0x$output & 0x0040000)) -ne 0 ]
	run_faas "$MT" ksm merge -- cat /proc/self/personality
	[ $((0x$output & 0x0040000)) -eq 0 ]
	# Two runs lay out their heaps at the same address.
	local a b
	a=$("$MT" ksm merge --no-aslr -- "$PYTHON" -c 'print(open("/proc/self/maps").read().split("[heap]")[0].splitlines()[-1].split()[0])' 2>/dev/null)
	b=$("$MT" ksm merge --no-aslr -- "$PYTHON" -c 'print(open("/proc/self/maps").read().split("[heap]")[0].splitlines()[-1].split()[0])' 2>/dev/null)
	[ -n "$a" ] && [ "$a" = "$b" ]
	run_faas "$MT" ksm merge --no-aslr -- "$PYTHON" -c 'import ctypes; print(ctypes.CDLL(None).prctl(68, 0, 0, 0, 0))'
	[ "$output" = 1 ]
}

# Every KSM tunable as it reads now, one "name=value" a line.
ksm_knobs() {
	local f
	for f in run pages_to_scan sleep_millisecs merge_across_nodes max_page_sharing use_zero_pages \
		smart_scan stable_node_chains_prune_millisecs advisor_mode advisor_max_cpu \
		advisor_min_pages_to_scan advisor_max_pages_to_scan advisor_target_scan_time; do
		[ -e $KSM/$f ] && echo "$f=$(knob $KSM/$f)"
	done
	return 0
}

# The workers of faas-bench's mem scenario still alive (their script's text).
mem_workers() { ps -eo args= | grep -c '^[^ ]*python3 -c import gc, importlib' || true; }

# Teardown: removes any zram device that was not there before, swapoff first.
track_zram_devices() {
	faas_on_teardown "cleanup_new_zram '$(zram_ids | tr '\n' ' ')'"
}
cleanup_new_zram() {
	local before=" $1 " id
	for id in $(zram_ids); do
		[[ "$before" == *" $id "* ]] && continue
		swapoff /dev/zram$id 2>/dev/null || true
		echo "$id" >/sys/class/zram-control/hot_remove || true
	done
}

@test "memtune bench: faas-bench run mem measures KSM and zram, then restores every knob" {
	requires root ksm zram python3 jq
	save_ksm unmerge
	save_knob $KSM/advisor_mode
	track_zram_devices
	local knobs devs
	knobs=$(ksm_knobs) devs=$(zram_ids | tr '\n' ' ')
	# One run at a time per machine (KSM is global): 75 while another runs.
	bench_mem() {
		run_faas "$FAAS_BENCH" run mem --json --timeout 60 --variant merge-noaslr-hashseed --variant zram \
			--param processes=2 --param modules=json,decimal --param settle_timeout=20 --param zram_mib=4 \
			--param memtune="$MT"
		[ "$status" -ne 75 ] || [[ "$stderr" != *"another"* ]]
	}
	retry 30 1 bench_mem
	[ "$status" -eq 0 ]
	assert_json_lines '.v == 1 and .bench.scenario == "mem" and .bench.peer == false'
	# The baseline: two processes, not mergeable, measured from smaps_rollup.
	jq -e -s 'map(select(.bench.variant == "plain")) | length == 1 and (.[0].bench | .processes == 2
		and .merge == false and .rss_bytes > 0 and .pss_bytes > 0 and .pss_bytes <= .rss_bytes
		and .saved_bytes == 0 and .ksm == null and .memory_from == "/proc/PID/smaps_rollup")' <<<"$output"
	# Without ASLR and with one hash seed, KSM merges some of their pages.
	jq -e -s 'map(select(.bench.variant == "merge-noaslr-hashseed")) | length == 1 and (.[0].bench
		| .merge and .aslr == false and .hashseed == "0" and .ksm.full_scans >= 3 and .saved_bytes > 0
		and .saved_bytes == (.ksm.pages_sharing_after - .ksm.pages_sharing_before) * 4096
		and .saved_share_of_rss == ((.saved_bytes / .rss_bytes * 10000 | round) / 10000)
		and .pss_after_bytes < .pss_bytes and (.goal.met | type == "boolean")
		and (.command | contains("ksm merge --no-aslr")))' <<<"$output"
	# zram: a row per algorithm the kernel offers, read back from mm_stat.
	local algos
	algos=$(tr -d '[]' </sys/block/zram0/comp_algorithm 2>/dev/null | wc -w)
	[ "$(jq -s '[.[] | select(.bench.zram)] | length' <<<"$output")" -ge "${algos:-1}" ]
	jq -e -s '[.[] | select(.bench.zram) | .bench.zram] | all(.orig_bytes > 0 and .compr_bytes > 0
		and .mem_used > 0 and .ratio > 1 and .write_mib_s > 0 and .read_mib_s > 0)' <<<"$output"
	if grep -qw lz4 /sys/block/zram0/comp_algorithm 2>/dev/null; then
		jq -e -s '[.[] | select(.bench.zram.algorithm == "lz4")] | .[0].bench.zram.published_ratio == 2.6' <<<"$output"
	fi
	# Everything is put back: KSM's tunables, no zram device, no worker.
	[ "$(ksm_knobs)" = "$knobs" ]
	[ "$(zram_ids | tr '\n' ' ')" = "$devs" ]
	[ "$(mem_workers)" -eq 0 ]
	run_faas "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py" <<<"$output"
	[ "$status" -eq 0 ]
}

@test "memtune bench: faas-bench run mem interrupted by SIGTERM still restores every knob" {
	requires root ksm python3
	save_ksm unmerge
	save_knob $KSM/advisor_mode
	track_zram_devices
	local knobs devs pid
	knobs=$(ksm_knobs) devs=$(zram_ids | tr '\n' ' ')
	# KSM never settles (100000 stable scans asked for): the run lasts 60 s
	# unless interrupted.
	"$FAAS_BENCH" run mem --json --variant merge --param processes=2 --param modules=json \
		--param settle_timeout=60 --param settle_scans=100000 --param pages_to_scan=4321 \
		--param memtune="$MT" >"$FAAS_TMP/out" 2>"$FAAS_TMP/err" &
	pid=$!
	faas_track_pid $pid
	# Interrupted while KSM runs for the merge variant.
	ksm_running() { [ "$(cat $KSM/run)" = 1 ] && [ "$(cat $KSM/pages_to_scan)" = 4321 ]; }
	retry 100 0.1 ksm_running
	kill -TERM $pid
	local st=0
	wait $pid || st=$?
	cat "$FAAS_TMP/err" >&2
	[ "$st" -eq 75 ]
	grep -q "interrupted" "$FAAS_TMP/err"
	[ "$(ksm_knobs)" = "$knobs" ]
	[ "$(zram_ids | tr '\n' ' ')" = "$devs" ]
	[ "$(mem_workers)" -eq 0 ]
}

@test "memtune bench: faas-bench run mem refuses a bad parameter" {
	run_faas -64 "$FAAS_BENCH" run mem --param processes=0
	run_faas -64 "$FAAS_BENCH" run mem --param modules="json os"
	run_faas -64 "$FAAS_BENCH" run mem --param no_such=1
}

@test "memtune thp: enabled and defrag modes change; an invalid mode is 64 listing the kernel's" {
	requires root thp
	save_knob $THP/enabled $THP/defrag
	local k mode want
	for k in enabled defrag; do
		mode=$(knob $THP/$k)
		want=never
		[ "$mode" = never ] && want=madvise
		run_faas "$MT" thp $k $want
		[ "$status" -eq 0 ]
		[ "$(knob $THP/$k)" = "$want" ]
		assert_json_lines ".mem.op == \"thp.$k\" and .mem.changes[0].before == \"$mode\" and .mem.changes[0].after == \"$want\""
	done
	run_faas -64 "$MT" thp enabled sometimes
	local valid
	valid=$(tr -d '[]' <$THP/enabled | sed 's/ *$//; s/ /, /g')
	[[ "$stderr" == *"invalid mode \`sometimes'"*"($valid)"* ]] || [[ "$stderr" == *"offers: $valid)"* ]]
	run_faas -64 "$MT" thp shmem_enabled always
}

@test "memtune --dry-run: ksm, thp, zram and cgroup writes show before/after and change nothing" {
	requires root ksm thp zram jq memcg
	save_ksm
	save_knob $THP/enabled
	local run pts en devs
	run=$(cat $KSM/run) pts=$(cat $KSM/pages_to_scan) en=$(knob $THP/enabled)
	devs=$(zram_ids | tr '\n' ' ')
	run_faas "$MT" --dry-run ksm on
	assert_json_lines ".mem.dry_run == true and .mem.changes[0].before == $run and .mem.changes[0].after == 1"
	run_faas "$MT" ksm off --dry-run --unmerge
	assert_json_lines ".mem.changes[0].after == 2"
	run_faas "$MT" ksm tune --once --dry-run --thres-coef 100
	assert_json_lines '.mem.dry_run == true and .mem.tune.run == 1'
	run_faas "$MT" thp enabled never --dry-run
	assert_json_lines '.mem.changes[0].after == "never"'
	run_faas "$MT" zram add --size 16M --swap 5 --dry-run
	assert_json_lines '.mem.dry_run == true and .mem.zram == [] and (.mem.changes | map(.knob) | index("swap"))'
	[ "$(cat $KSM/run)" = "$run" ]
	[ "$(cat $KSM/pages_to_scan)" = "$pts" ]
	[ "$(knob $THP/enabled)" = "$en" ]
	[ "$(zram_ids | tr '\n' ' ')" = "$devs" ]
	make_test_cgroup
	local before
	before=$(cat "$CG_DIR/$CG_MAX")
	run_faas "$MT" --dry-run cgroup limit --test-cgroup "$CG_NAME" --max 64M
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.changes[0].after == 67108864'
	[ "$(cat "$CG_DIR/$CG_MAX")" = "$before" ]
}

@test "memtune zram: add with an algorithm, fill with dd, read orig/compr back, remove" {
	requires root zram jq
	local size=$((24 << 20)) dev id algo
	algo=$(tr -d '[]' </sys/block/zram0/comp_algorithm 2>/dev/null | tr ' ' '\n' | grep -m1 -x -e lz4 -e lzo-rle -e lzo || true)
	track_new_zram $size
	run_faas "$MT" zram add --size $size ${algo:+--algorithm $algo}
	[ "$status" -eq 0 ]
	dev=$(jq -r '.mem.zram[0].dev' <<<"$output")
	id=${dev#zram}
	[ -b "/dev/$dev" ]
	[ "$(cat /sys/block/$dev/disksize)" = $size ]
	[ -z "$algo" ] || [ "$(knob /sys/block/$dev/comp_algorithm)" = "$algo" ]
	assert_json_lines ".mem.op == \"zram.add\" and (.mem.changes[] | select(.knob | endswith(\"disksize\")) | .before == 0 and .after == $size)"
	# A realistic mix: executables and text, then zeros.
	cat /usr/bin/* 2>/dev/null | head -c $((8 << 20)) | dd of=/dev/$dev bs=1M iflag=fullblock oflag=direct status=none
	run_faas "$MT" zram ls --json
	[ "$status" -eq 0 ]
	local line
	line=$(grep "\"$dev\"" <<<"$output")
	jq -e '.mem.zram[0] | .orig_bytes > 0 and .compr_bytes > 0 and .compr_bytes < .orig_bytes and .ratio > 1 and .swap == false' <<<"$line"
	run_faas "$MT" zram rm "$dev"
	[ "$status" -eq 0 ]
	[ ! -e /sys/block/$dev ]
	assert_json_lines '.mem.op == "zram.rm" and .mem.changes[-1].before == "'"$dev"'"'
	run_faas -66 "$MT" zram rm "$dev"
	run_faas -64 "$MT" zram rm sda
	run_faas -64 "$MT" zram add --size 8M --algorithm no-such-algo
	[[ "$stderr" == *"this kernel offers:"* ]]
	run_faas -64 "$MT" zram add --size lots
}

@test "memtune zram: a swap device is on at its priority, used, and swapped off at rm" {
	requires root zram jq
	local size=$((20 << 20)) dev
	track_new_zram $size
	run_faas "$MT" zram add --size $size --swap 123
	[ "$status" -eq 0 ]
	dev=$(jq -r '.mem.zram[0].dev' <<<"$output")
	assert_json_lines '.mem.zram[0].swap == true and (.mem.changes[] | select(.knob == "swap") | .after == true and .priority == 123)'
	awk -v d=/dev/$dev '$1 == d && $5 == 123 { found = 1 } END { exit !found }' /proc/swaps
	run_faas "$MT" zram rm "$dev"
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.changes[0] == {"knob":"swap","before":true,"after":false}'
	if grep -q "^/dev/$dev " /proc/swaps; then return 1; fi
	[ ! -e /sys/block/$dev ]
}

@test "memtune zram rm: a device held open is busy: 75, and stays" {
	requires root zram jq
	local size=$((12 << 20)) dev
	track_new_zram $size
	run_faas "$MT" zram add --size $size
	dev=$(jq -r '.mem.zram[0].dev' <<<"$output")
	exec 9<"/dev/$dev"
	faas_on_teardown "exec 9<&-"
	run_faas -75 "$MT" zram rm "$dev"
	[[ "$stderr" == *busy* ]]
	[ -e /sys/block/$dev ]
	exec 9<&-
	run_faas "$MT" zram rm "$dev"
	[ "$status" -eq 0 ]
}

@test "memtune cgroup limit: writes max/high to a real cgroup, before and after in the record" {
	requires root memcg jq
	make_test_cgroup
	run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max 64M --high 48M
	[ "$status" -eq 0 ]
	[ "$(cat "$CG_DIR/$CG_MAX")" = $((64 << 20)) ]
	[ "$(cat "$CG_DIR/$CG_HIGH")" = $((48 << 20)) ]
	assert_json_lines '.mem.op == "cgroup.limit" and .mem.sandbox.id == "'"$CG_NAME"'"
		and ([.mem.changes[] | .before] | all(. == "max"))
		and ([.mem.changes[] | .after] | sort == [50331648, 67108864])'
	run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max max
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.changes[0].before == 67108864 and .mem.changes[0].after == "max"'
	# The swap allowance: v2 memory.swap.max; v1 memsw = max + swap, kept
	# in step when max alone changes later.
	if [ -e "$CG_DIR/memory.swap.max" ]; then
		run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max 64M --swap-max 16M
		[ "$(cat "$CG_DIR/memory.swap.max")" = $((16 << 20)) ]
	elif [ -e "$CG_DIR/memory.memsw.limit_in_bytes" ]; then
		run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max 64M --swap-max 16M
		[ "$status" -eq 0 ]
		[ "$(cat "$CG_DIR/memory.memsw.limit_in_bytes")" = $((80 << 20)) ]
		run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max 32M
		[ "$(cat "$CG_DIR/memory.limit_in_bytes")" = $((32 << 20)) ]
		[ "$(cat "$CG_DIR/memory.memsw.limit_in_bytes")" = $((48 << 20)) ]
		run_faas "$MT" cgroup limit --test-cgroup "$CG_NAME" --max max --swap-max max
		[ "$status" -eq 0 ]
		[ "$(cat "$CG_DIR/memory.limit_in_bytes")" -gt $((1 << 60)) ]
	fi
	run_faas -64 "$MT" cgroup limit --test-cgroup "$CG_NAME"
	run_faas -64 "$MT" cgroup limit --test-cgroup "../$CG_NAME" --max 1M
	run_faas -64 "$MT" cgroup limit --test-cgroup "$CG_NAME" --max lots
	run_faas -66 "$MT" cgroup limit --test-cgroup "no-such-$CG_NAME" --max 1M
}

@test "memtune cgroup reclaim: page cache charged to a real cgroup is reclaimed" {
	requires root memcg jq
	make_test_cgroup
	# A child joins the cgroup and writes 32 MiB to disk: clean page cache
	# charged to the cgroup after it exits.
	sh -c "echo \$\$ > $CG_DIR/cgroup.procs && dd if=/dev/zero of=$FAAS_TMP/cache bs=1M count=32 conv=fsync status=none"
	run_faas "$MT" cgroup reclaim --test-cgroup "$CG_NAME" "$CG_NAME" 16M
	[ "$status" -eq 0 ]
	assert_json_lines '.mem.op == "cgroup.reclaim" and .mem.reclaim.complete == true
		and .mem.reclaim.reclaimed >= 8388608 and .mem.reclaim.after < .mem.reclaim.before
		and .mem.changes[0].before == .mem.reclaim.before'
	# v1 reclaims by lowering the limit for a moment: it is back.
	[ -e "$CG_DIR/memory.max" ] || [ "$(cat "$CG_DIR/memory.limit_in_bytes")" -gt $((1 << 60)) ]
}

@test "memtune cgroup: an unknown sandbox ID is 66; a path is never taken for an ID" {
	requires jq
	run_faas -66 "$MT" cgroup limit 3f2a9c --max 64M
	[[ "$stderr" == *"no sandbox \`3f2a9c'"* ]]
	run_faas -66 "$MT" cgroup limit /sys/fs/cgroup/memory --max 64M
	run_faas -66 "$MT" cgroup reclaim ../../memory 1M
	run_faas -64 "$MT" cgroup limit
}

@test "memtune cgroup: a sandbox ID resolves through the state store; a bad cgroup there is refused" {
	requires root memcg jq sqlite3
	make_test_cgroup
	local parent_max
	parent_max=$(cat "$(dirname "$CG_DIR")/$CG_MAX")
	# The contract with faas-pool: sandboxes(id, cgroup), cgroup relative to
	# the memory hierarchy's root and beneath faas/.
	sqlite3 "$FAAS_RUN_DIR/run.db" "CREATE TABLE sandboxes(id TEXT PRIMARY KEY, cgroup TEXT);
		INSERT INTO sandboxes VALUES ('sb1', 'faas/$CG_NAME'), ('up', 'faas/../faas'),
		('abs', '$(dirname "$CG_DIR")'), ('gone', 'faas/no-such-$CG_NAME');"
	run_faas "$MT" cgroup limit sb1 --max 32M
	[ "$status" -eq 0 ]
	[ "$(cat "$CG_DIR/$CG_MAX")" = $((32 << 20)) ]
	assert_json_lines '.mem.sandbox == {"id":"sb1","cgroup":"faas/'"$CG_NAME"'","cgroup_version":'"$([ "$CG_MAX" = memory.max ] && echo 2 || echo 1)"'}'
	run_faas "$MT" status --json
	assert_json_lines '(.mem.sandboxes[] | select(.id == "sb1") | .max == 33554432 and .current >= 0)
		and (.mem.sandboxes[] | select(.id == "gone") | .error != null)'
	run_faas -65 "$MT" cgroup limit up --max 1M
	run_faas -65 "$MT" cgroup limit abs --max 1M
	run_faas -66 "$MT" cgroup reclaim gone 1M
	[ "$(cat "$(dirname "$CG_DIR")/$CG_MAX")" = "$parent_max" ]
}

@test "memtune: not root is 77 for writes; --dry-run and status need no root" {
	requires ksm setpriv
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	local cmd
	for cmd in "ksm on" "ksm off" "ksm tune --once" "thp enabled never" "zram add --size 8M" \
		"zram rm zram0" "cgroup limit x --max 1M"; do
		# shellcheck disable=SC2086
		run_faas -77 "${nobody[@]}" "$MT" $cmd
		[[ "$stderr" == *"requires root"* ]]
	done
	run_faas "${nobody[@]}" "$MT" ksm on --dry-run
	[ "$status" -eq 0 ]
	run_faas "${nobody[@]}" "$MT" status --json
	[ "$status" -eq 0 ]
}

@test "memtune: --help lists every subcommand; bad usage is 64" {
	run_faas "$MT" --help
	[ "$status" -eq 0 ]
	local s
	for s in status ksm thp zram cgroup; do [[ "$output" == *"$s"* ]]; done
	run_faas -64 "$MT"
	run_faas -64 "$MT" ksm
	run_faas -64 "$MT" thp enabled
	run_faas -64 "$MT" status --watch never
	run_faas -64 "$MT" zram add
}

#!/usr/bin/env bats
# faas-netns: pools of real network namespaces on a private bridge. Every
# subnet is a 10.x range that lives only between the test's own namespaces
# and its own bridge: nothing is forwarded or NATed, no traffic leaves the
# machine. Teardown removes every namespace, veth, bridge and row a test
# made, through `pool rm` and, should that fail, by the pool's tag.

load helpers/common

: "${FAAS_NETNS:=$FAAS_BIN_DIR/faas-netns}"

setup() {
	faas_setup
	requires root netns ip busybox jq sqlite3
	# Names and a /24 of this test only (tests may run in parallel).
	P=p${BATS_TEST_NUMBER}x$$
	NET=10.$((120 + BATS_TEST_NUMBER)).$(($$ % 250))
	faas_on_teardown cleanup_pools
}

teardown() { faas_teardown; }

# Every pool of this test's state: `pool rm`, then whatever carries one of
# its tags (fb<tag>, fv<tag>-N, fn<tag>-N) or its bridge name.
cleanup_pools() {
	local db=$FAAS_RUN_DIR/run.db tags bridges names t n l
	[ -f "$db" ] || return 0
	tags=$(sqlite3 "$db" "SELECT tag FROM netns_pools" 2>/dev/null) || true
	bridges=$(sqlite3 "$db" "SELECT bridge FROM netns_pools" 2>/dev/null) || true
	names=$(sqlite3 "$db" "SELECT name FROM netns_pools" 2>/dev/null) || true
	[ -n "$names" ] && "$FAAS_NETNS" pool rm $names >/dev/null 2>&1
	for t in $tags; do
		for n in /run/netns/fn"$t"-*; do
			[ -e "$n" ] || continue
			for l in $(ip netns pids "${n##*/}" 2>/dev/null); do kill -KILL "$l" 2>/dev/null; done
			ip netns delete "${n##*/}" 2>/dev/null
		done
		for l in $(links_with_prefix "fv$t-") $(links_with_prefix "fb$t"); do
			ip link delete "$l" 2>/dev/null
		done
	done
	for l in $bridges; do
		ip link show dev "$l" >/dev/null 2>&1 && ip link delete "$l" 2>/dev/null
	done
	return 0
}

links_with_prefix() {
	ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep "^$1" || true
}

pinned_with_prefix() {
	ls /run/netns 2>/dev/null | grep "^$1" || true
}

tag_of() { sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT tag FROM netns_pools WHERE name = '$1'"; }

# pool_create [SIZE] [ARGS...]: a pool named $P on $NET.0/24.
pool_create() {
	local size=${1:-4}
	shift || true
	run_faas "$FAAS_NETNS" pool create "$P" --size "$size" --subnet "$NET.0/24" "$@"
	[ "$status" -eq 0 ]
	TAG=$(jq -r .netns_pool.tag <<<"$output")
	BRIDGE=$(jq -r .netns_pool.bridge <<<"$output")
}

# acquire [ARGS...]: sets REC, ID, NAME, IP. The lease is held by the test
# (bats' run would make a short-lived subshell its holder, which gc would
# rightly take for dead).
acquire() {
	run_faas "$FAAS_NETNS" acquire "$P" --holder "${HOLDER:-$$}" "$@"
	[ "$status" -eq 0 ]
	REC=$output
	ID=$(jq -r .netns.id <<<"$REC")
	NAME=$(jq -r .netns.name <<<"$REC")
	IP=$(jq -r .netns.ip <<<"$REC")
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# The baseline of a pool namespace: lo and eth0 up, one address, one
# default route via the gateway, nothing else.
assert_baseline() {
	local ns=$1 ip=$2
	[ "$(in_ns "$ns" ip -o link show | wc -l)" -eq 2 ] || { in_ns "$ns" ip link show >&2; return 1; }
	in_ns "$ns" ip -o link show dev lo | grep -q '[<,]UP[,>]'
	in_ns "$ns" ip -o link show dev eth0 | grep -q '[<,]UP[,>]'
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 0 ]
	[ "$(in_ns "$ns" cat /sys/class/net/eth0/mtu)" = 1500 ]
	[ "$(in_ns "$ns" ip -4 -o addr show | awk '{print $2, $4}' | sort | tr '\n' ' ')" = "eth0 $ip/24 lo 127.0.0.1/8 " ] ||
		{ in_ns "$ns" ip -4 addr show >&2; return 1; }
	[ "$(in_ns "$ns" ip -4 route show table all | grep -v '^local\|^broadcast' | awk '{$1 = $1; print}' | sort | tr '\n' ' ')" = \
		"$NET.0/24 dev eth0 proto kernel scope link src $ip default via $NET.1 dev eth0 proto static " ] ||
		{ in_ns "$ns" ip -4 route show table all >&2; return 1; }
}

# Nothing of pool tag $1 is left: no namespace, veth, bridge or row.
assert_pool_gone() {
	local tag=$1
	[ -z "$(pinned_with_prefix "fn$tag-")" ] || { pinned_with_prefix "fn$tag-" >&2; return 1; }
	[ -z "$(links_with_prefix "fv$tag-")" ] || { links_with_prefix "fv$tag-" >&2; return 1; }
	[ -z "$(links_with_prefix "fb$tag")" ]
	[ "$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT (SELECT count(*) FROM netns_pools) + (SELECT count(*) FROM netns) + (SELECT count(*) FROM netns_addresses)")" = 0 ]
}

# The pool is whole: SIZE ready namespaces, each pinned, with its veth on
# the bridge, and nothing else carrying the tag.
assert_pool_whole() {
	local size=$1 n
	run_faas "$FAAS_NETNS" pool ls --json
	[ "$(jq -r "select(.netns_pool.name == \"$P\") | \"\(.netns_pool.state) \(.netns_pool.ready) \(.netns_pool.total)\"" <<<"$output")" = "ready $size $size" ]
	[ "$(pinned_with_prefix "fn$TAG-" | wc -l)" -eq "$size" ]
	[ "$(links_with_prefix "fv$TAG-" | wc -l)" -eq "$size" ]
	run_faas "$FAAS_NETNS" ls --json --pool "$P"
	for n in $(jq -r .netns.name <<<"$output"); do
		[ "$(ip netns exec "$n" ip -4 -o addr show dev eth0 | wc -l)" -eq 1 ]
	done
	for n in $(jq -r .netns.host_if <<<"$output"); do
		ip -o link show dev "$n" | grep -q "master $BRIDGE"
	done
}

netns_record_ok() {
	echo '.v == 1 and (.netns.id | test("^[0-9a-f]{12}$")) and (.netns.path == "/run/netns/" + .netns.name)
	and (.netns.ip | startswith("'"$NET"'.")) and .netns.prefix == 24 and .netns.gateway == "'"$NET"'.1"
	and (.netns.mac | test("^02:fa(:[0-9a-f]{2}){4}$")) and (.netns.host_if | test("^fv[0-9a-f]{6}-[0-9]+$"))
	and .netns.pool == "'"$P"'" and (.timing["netns.acquire"] >= 0)'
}

has_tag() { [ -n "$(tag_of "$P" 2>/dev/null)" ]; }
pinned_at_least() { [ "$(pinned_with_prefix "$1" | wc -l)" -ge "$2" ]; }

@test "netns: pool create makes a bridge holding the gateway and SIZE pinned namespaces" {
	pool_create 3
	assert_json_lines '.netns_pool.size == 3 and .netns_pool.ready == 3 and .netns_pool.state == "ready" and .netns_pool.subnet == "'"$NET"'.0/24"'
	[ ${#BRIDGE} -le 15 ]
	ip -o -4 addr show dev "$BRIDGE" | grep -q "inet $NET.1/24"
	ip -d link show dev "$BRIDGE" | grep -q bridge
	[ "$(pinned_with_prefix "fn$TAG-" | wc -l)" -eq 3 ]
	run_faas "$FAAS_NETNS" ls --json --pool "$P"
	[ "${#lines[@]}" -eq 3 ]
	assert_json_lines '.netns.state == "ready" and .netns.pool == "'"$P"'"'
	local n ip
	for n in $(jq -r .netns.name <<<"$output"); do
		[ ${#n} -le 15 ]
		ip=$(jq -r "select(.netns.name == \"$n\") | .netns.ip" <<<"$output")
		assert_baseline "$n" "$ip"
	done
	run_faas "$FAAS_NETNS" pool ls --table
	[[ "${lines[0]}" == POOL* ]]
	[[ "$output" == *"$P"*"$NET.0/24"* ]]
}

@test "netns: two acquired namespaces reach each other over the bridge: ping and a TCP echo" {
	requires python3
	pool_create 2
	acquire
	assert_json_lines "$(netns_record_ok)"
	local a=$NAME a_ip=$IP
	acquire
	local b=$NAME b_ip=$IP
	[ "$a" != "$b" ] && [ "$a_ip" != "$b_ip" ]
	run_faas in_ns "$a" busybox ping -c1 -W1 "$b_ip"
	[ "$status" -eq 0 ]
	run_faas in_ns "$b" busybox ping -c1 -W1 "$a_ip"
	[ "$status" -eq 0 ]
	# An echo server in b, on b's own address; a client in a.
	in_ns "$b" "$PYTHON" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7777)); s.listen(1)
c, _ = s.accept(); c.sendall(c.recv(100)); c.close()' "$b_ip" &
	faas_track_pid $!
	local client='
import socket, sys
c = socket.create_connection((sys.argv[1], 7777), timeout=2)
c.sendall(b"hello over the bridge"); print(c.recv(100).decode())'
	retry 50 0.1 in_ns "$a" ss -H -tln >/dev/null
	retry 50 0.1 sh -c "ip netns exec $b ss -H -tln | grep -q ':7777'"
	run_faas in_ns "$a" "$PYTHON" -c "$client" "$b_ip"
	[ "$status" -eq 0 ]
	[ "$output" = "hello over the bridge" ]
}

@test "netns: ip netns exec works on an acquired namespace, which ip netns list shows" {
	pool_create 1
	acquire
	ip netns list | grep -q "^$NAME\b"
	run_faas ip netns exec "$NAME" ip -4 -o addr show dev eth0
	[ "$status" -eq 0 ]
	[[ "$output" == *"inet $IP/24"* ]]
	run_faas ip netns exec "$NAME" busybox ping -c1 -W1 "$NET.1"
	[ "$status" -eq 0 ]
}

@test "netns: release resets addresses, routes, links, MTU, link state and kills what runs inside" {
	pool_create 1
	acquire
	in_ns "$NAME" ip addr add "$NET.200/24" dev eth0
	in_ns "$NAME" ip addr add 10.250.3.4/16 dev lo
	in_ns "$NAME" ip link add extra0 type veth peer name extra1
	in_ns "$NAME" ip link set extra0 up
	in_ns "$NAME" ip route add 10.251.0.0/16 via "$NET.1"
	in_ns "$NAME" ip link set eth0 mtu 1280
	in_ns "$NAME" ip link set lo down
	in_ns "$NAME" sleep 600 &
	local inside=$!
	faas_track_pid "$inside"
	# A function, so that each try asks again.
	has_pids() { [ -n "$(ip netns pids "$1")" ]; }
	retry 50 0.05 has_pids "$NAME"
	run_faas "$FAAS_NETNS" release <<<"$REC"
	[ "$status" -eq 0 ]
	assert_json_lines '.netns.released == true and .netns.id == "'"$ID"'" and .timing["netns.release"] >= 0'
	[ -z "$(ip netns pids "$NAME")" ]
	assert_baseline "$NAME" "$IP"
	# Back in the pool, the same namespace.
	acquire
	[ "$(jq -r .netns.name <<<"$REC")" = "$NAME" ]
	# Pools, namespaces and leases are all in run.db: state.db never made.
	[ ! -e "$FAAS_STATE_DIR/state.db" ]
}

@test "netns: 32 concurrent acquires get 32 distinct namespaces and addresses" {
	pool_create 32
	local i pids=()
	for ((i = 0; i < 32; i++)); do
		"$FAAS_NETNS" acquire "$P" >"$FAAS_TMP/out.$i" 2>"$FAAS_TMP/err.$i" &
		pids+=($!)
	done
	for ((i = 0; i < 32; i++)); do
		wait "${pids[$i]}" || { cat "$FAAS_TMP/err.$i" >&2; return 1; }
	done
	[ "$(cat "$FAAS_TMP"/out.* | jq -r .netns.id | sort -u | wc -l)" -eq 32 ]
	[ "$(cat "$FAAS_TMP"/out.* | jq -r .netns.name | sort -u | wc -l)" -eq 32 ]
	[ "$(cat "$FAAS_TMP"/out.* | jq -r .netns.ip | sort -u | wc -l)" -eq 32 ]
	[ "$(cat "$FAAS_TMP"/out.* | jq -r .netns.mac | sort -u | wc -l)" -eq 32 ]
	run_faas -75 "$FAAS_NETNS" acquire "$P"
	# Released concurrently too, through records.
	for ((i = 0; i < 32; i++)); do
		"$FAAS_NETNS" release <"$FAAS_TMP/out.$i" >/dev/null 2>"$FAAS_TMP/err.$i" &
		pids[$i]=$!
	done
	for ((i = 0; i < 32; i++)); do
		wait "${pids[$i]}" || { cat "$FAAS_TMP/err.$i" >&2; return 1; }
	done
	assert_pool_whole 32
}

@test "netns: an empty pool is 75 at once; --wait gets a namespace released meanwhile, or 75" {
	pool_create 1
	acquire
	local first=$ID name=$NAME
	run_faas -75 "$FAAS_NETNS" acquire "$P"
	[[ "$stderr" == *"pool \`$P\` is empty"* ]]
	run_faas -75 "$FAAS_NETNS" acquire "$P" --wait 200ms
	"$FAAS_NETNS" acquire "$P" --wait 10s >"$FAAS_TMP/waited" 2>"$FAAS_TMP/waited.err" &
	local waiter=$!
	faas_track_pid "$waiter"
	run_faas "$FAAS_NETNS" release "$first"
	[ "$status" -eq 0 ]
	wait "$waiter" || { cat "$FAAS_TMP/waited.err" >&2; return 1; }
	[ "$(jq -r .netns.name "$FAAS_TMP/waited")" = "$name" ]
}

@test "netns: error statuses: subnet too small 64 naming both, overlap 64, unknown pool 66, bad input" {
	run_faas -64 "$FAAS_NETNS" pool create "$P" --size 9 --subnet "$NET.0/29"
	[[ "$stderr" == *"$NET.0/29"* && "$stderr" == *"--size 9"* ]]
	run_faas -64 "$FAAS_NETNS" pool create "$P" --size 1 --subnet "$NET.5/24"
	[[ "$stderr" == *"did you mean $NET.0/24"* ]]
	run_faas -64 "$FAAS_NETNS" pool create "$P" --size 1 --subnet nonsense
	run_faas -64 "$FAAS_NETNS" pool create "Bad/Name" --size 1 --subnet "$NET.0/24"
	run_faas -64 "$FAAS_NETNS" pool create "$P" --subnet "$NET.0/24"
	run_faas -64 "$FAAS_NETNS" pool create "$P" --size 1 --subnet "$NET.0/24" --bridge way-too-long-bridge
	pool_create 1
	run_faas -64 "$FAAS_NETNS" pool create "${P}b" --size 1 --subnet "$NET.128/25"
	[[ "$stderr" == *overlaps* && "$stderr" == *"pool \`$P\`"* ]]
	run_faas -73 "$FAAS_NETNS" pool create "$P" --size 1 --subnet 10.252.$(($$ % 250)).0/24
	run_faas -66 "$FAAS_NETNS" acquire "no-such-pool-$$"
	[[ "$stderr" == *"no-such-pool-$$"* ]]
	run_faas -66 "$FAAS_NETNS" pool rm "no-such-pool-$$"
	run_faas -66 "$FAAS_NETNS" pool resize "no-such-pool-$$" 2
	run_faas -64 "$FAAS_NETNS" pool resize "$P" 300
	run_faas -66 "$FAAS_NETNS" release 0123456789ab
	run_faas -66 "$FAAS_NETNS" release ../../etc
	run_faas -65 "$FAAS_NETNS" release <<<'{"netns": {"id": 7}}'
	run_faas -65 "$FAAS_NETNS" release <<<'not json'
	[[ "$stderr" == *"line 1"* ]]
	run_faas -64 "$FAAS_NETNS" acquire "$P" --wait soon
	run_faas -64 "$FAAS_NETNS" --no-such-flag
	# Still whole after all that.
	assert_pool_whole 1
}

@test "netns: a record naming another namespace's path is refused (65) and passes nothing through" {
	pool_create 1
	acquire
	run_faas -65 "$FAAS_NETNS" release <<<"$(jq -c '.netns.path = "/run/netns/other"' <<<"$REC")"
	[[ "$stderr" == *"refusing the record"* ]]
	run_faas "$FAAS_NETNS" ls --json
	assert_json_lines '.netns.state == "leased"'
	# Unknown keys pass through; --keep-going prints an error record and goes on.
	printf '%s\n%s\n' '{"netns":{"id":"0123456789ab"},"keep":1}' "$(jq -c '.other = "kept"' <<<"$REC")" >"$FAAS_TMP/in"
	run_faas -66 "$FAAS_NETNS" release --keep-going <"$FAAS_TMP/in"
	[ "${#lines[@]}" -eq 2 ]
	[ "$(jq -r '.error.status' <<<"${lines[0]}")" = 66 ]
	[ "$(jq -r .keep <<<"${lines[0]}")" = 1 ]
	[ "$(jq -r '.other + " " + (.netns.released | tostring)' <<<"${lines[1]}")" = "kept true" ]
}

@test "netns: not root is 77" {
	requires setpriv
	pool_create 1
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" pool create "${P}n" --size 1 --subnet 10.253.$(($$ % 250)).0/24
	[[ "$stderr" == *"must be root"* ]]
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" acquire "$P"
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" release 0123456789ab
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" gc
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" pool rm "$P"
	run_faas -77 "${nobody[@]}" "$FAAS_NETNS" ls
	assert_pool_whole 1
}

@test "netns: kill -9 in the middle of pool create, then gc: the pool is whole, nothing leaked" {
	"$FAAS_NETNS" pool create "$P" --size 24 --subnet "$NET.0/24" >/dev/null 2>&1 &
	local maker=$!
	faas_track_pid "$maker"
	retry 500 0.01 has_tag
	TAG=$(tag_of "$P")
	BRIDGE=fb$TAG
	retry 1000 0.002 pinned_at_least "fn$TAG-" 4
	kill -KILL "$maker"
	wait "$maker" || true
	# Killed half way (if the machine was fast enough to finish, gc has nothing to do).
	run_faas "$FAAS_NETNS" gc --json
	[ "$status" -eq 0 ]
	assert_pool_whole 24
	run_faas "$FAAS_NETNS" pool rm "$P"
	[ "$status" -eq 0 ]
	assert_pool_gone "$TAG"
}

@test "netns: kill -9 of a waiting acquirer changes nothing; gc resets what a dead holder leased" {
	pool_create 2
	acquire
	local kept=$ID
	sleep 600 &
	local holder=$!
	faas_track_pid "$holder"
	HOLDER=$holder acquire
	local dead_name=$NAME dead_ip=$IP
	# An acquirer waiting on the empty pool, killed once it has the state open.
	"$FAAS_NETNS" acquire "$P" --wait 30s >/dev/null 2>&1 &
	local waiter=$!
	faas_track_pid "$waiter"
	retry 200 0.01 sh -c "ls -l /proc/$waiter/fd 2>/dev/null | grep -q run.db"
	kill -KILL "$waiter"
	wait "$waiter" || true
	# The holder dies with its namespace changed.
	in_ns "$dead_name" ip addr add "$NET.201/24" dev eth0
	kill -KILL "$holder"
	wait "$holder" || true
	run_faas "$FAAS_NETNS" gc --json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	assert_json_lines '.netns.gc == "dead-holder" and .netns.name == "'"$dead_name"'"'
	assert_baseline "$dead_name" "$dead_ip"
	run_faas "$FAAS_NETNS" ls --json
	[ "$(jq -r 'select(.netns.id == "'"$kept"'") | .netns.state' <<<"$output")" = leased ]
	run_faas "$FAAS_NETNS" release "$kept"
	[ "$status" -eq 0 ]
	assert_pool_whole 2
}

@test "netns: acquirers killed at any point, then gc: the pool is whole" {
	pool_create 4
	sleep 600 &
	local holder=$! i pid
	faas_track_pid "$holder"
	# Each acquirer is killed after a different delay: before, during or
	# after its claim. Whatever it claimed is held by $holder.
	for ((i = 0; i < 16; i++)); do
		"$FAAS_NETNS" acquire "$P" --holder "$holder" --wait 1s >/dev/null 2>&1 &
		pid=$!
		sleep "0.00$((i % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
	done
	kill -KILL "$holder"
	wait "$holder" || true
	run_faas "$FAAS_NETNS" gc --json
	[ "$status" -eq 0 ]
	assert_pool_whole 4
}

@test "netns: gc finishes an interrupted release and replaces a namespace deleted behind its back" {
	pool_create 2
	acquire
	sleep 600 &
	local dead=$!
	kill -KILL "$dead"
	wait "$dead" || true
	sqlite3 "$FAAS_RUN_DIR/run.db" "UPDATE netns SET state = 'releasing', holder_pid = $dead, holder_start = 1 WHERE id = '$ID'"
	local other
	other=$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT name FROM netns WHERE id != '$ID'")
	ip netns delete "$other"
	run_faas "$FAAS_NETNS" gc --json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.netns.id == "'"$ID"'") | .netns.gc' <<<"$output")" = interrupted-release ]
	[ "$(jq -r 'select(.netns.name == "'"$other"'") | .netns.gc' <<<"$output")" = broken ]
	assert_pool_whole 2
	# A second gc has nothing to do.
	run_faas "$FAAS_NETNS" gc --json
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "netns: pool resize grows and shrinks; pool rm leaves no namespace, veth, bridge or row" {
	pool_create 2
	run_faas "$FAAS_NETNS" pool resize "$P" 5
	[ "$status" -eq 0 ]
	assert_pool_whole 5
	acquire
	in_ns "$NAME" sleep 600 &
	faas_track_pid $!
	run_faas "$FAAS_NETNS" pool resize "$P" 1
	[ "$status" -eq 0 ]
	assert_json_lines '.netns_pool.size == 1 and .netns_pool.total == 1 and .netns_pool.leased == 1'
	# The leased one goes at its release, as the pool is already full.
	run_faas "$FAAS_NETNS" pool resize "$P" 0
	run_faas "$FAAS_NETNS" release "$ID" --json
	[ "$status" -eq 0 ]
	assert_json_lines '.netns.removed == true'
	run_faas "$FAAS_NETNS" pool resize "$P" 3
	acquire
	in_ns "$NAME" sleep 600 &
	faas_track_pid $!
	run_faas "$FAAS_NETNS" pool rm "$P" --json
	[ "$status" -eq 0 ]
	assert_pool_gone "$TAG"
	run_faas "$FAAS_NETNS" pool ls --json
	[ -z "$output" ]
}

@test "netns: neigh --wait sees an address a namespace starts using; 75 on timeout" {
	pool_create 1
	acquire
	"$FAAS_NETNS" neigh --wait "$NET.77" --timeout 10s >"$FAAS_TMP/neigh" 2>"$FAAS_TMP/neigh.err" &
	local waiter=$!
	faas_track_pid "$waiter"
	in_ns "$NAME" ip addr add "$NET.77/24" dev eth0
	in_ns "$NAME" busybox ping -c1 -W1 -I "$NET.77" "$NET.1" >/dev/null || true
	wait "$waiter" || { cat "$FAAS_TMP/neigh.err" >&2; return 1; }
	output=$(cat "$FAAS_TMP/neigh")
	assert_json_lines '.neigh.ip == "'"$NET.77"'" and .neigh.mac == "'"$(jq -r .netns.mac <<<"$REC")"'" and .neigh.dev == "'"$BRIDGE"'"'
	# By MAC too, on the named device; then the listing.
	run_faas "$FAAS_NETNS" neigh --dev "$BRIDGE" --wait "$(jq -r .netns.mac <<<"$REC")" --timeout 2s
	[ "$status" -eq 0 ]
	run_faas "$FAAS_NETNS" neigh --json
	[ "$status" -eq 0 ]
	[[ "$output" == *"$NET.77"* ]]
	run_faas -75 "$FAAS_NETNS" neigh --wait "$NET.99" --timeout 300ms
	run_faas -64 "$FAAS_NETNS" neigh --wait not-an-address
	run_faas -66 "$FAAS_NETNS" neigh --dev "nodev$$"
}

@test "netns: every record it prints follows the record schema" {
	requires python3
	pool_create 2
	acquire
	{
		echo "$REC"
		"$FAAS_NETNS" release <<<"$REC"
		"$FAAS_NETNS" ls --json
		"$FAAS_NETNS" pool ls --json
		"$FAAS_NETNS" neigh --json
		"$FAAS_NETNS" gc --json
	} >"$FAAS_TMP/records"
	run_faas "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py" <"$FAAS_TMP/records"
	[ "$status" -eq 0 ]
}

@test "netns: a man page with every section" {
	local page=$FAAS_MAN_DIR/faas-netns.1 s
	[ -f "$page" ]
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "INPUT/OUTPUT" "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		grep -q "^\.SH \"*$s" "$page" || { echo "no section $s" >&2; return 1; }
	done
}

# The names (prefix*) the bench's records say its run made: none may be
# left, as a namespace under /run/netns or as a link.
bench_leftovers() {
	local p
	for p in $(jq -r '.bench.names[]? // empty' "$FAAS_TMP/bench.out" 2>/dev/null | sort -u); do
		p=${p%\*}
		pinned_with_prefix "$p"
		links_with_prefix "$p"
	done
}

sweep_bench_leftovers() {
	local n
	[ -f "$FAAS_TMP/bench.out" ] || return 0
	for n in $(bench_leftovers); do
		ip netns delete "$n" 2>/dev/null || ip link delete "$n" 2>/dev/null || true
	done
}

@test "netns: faas-bench run netns measures every variant and leaves nothing behind" {
	requires unshare
	faas_on_teardown sweep_bench_leftovers
	"$FAAS_BENCH" run netns --iterations 2 --warmup 0 --param pool=2 --json \
		>"$FAAS_TMP/bench.out" 2>"$FAAS_TMP/bench.err" || { cat "$FAAS_TMP/bench.err" >&2; return 1; }
	output=$(cat "$FAAS_TMP/bench.out")
	assert_json_lines '.v == 1 and .bench.scenario == "netns" and .bench.iterations == 2 and .bench.p50 > 0 and .bench.min <= .bench.p50 and .bench.p50 <= .bench.max and (.bench.command | length > 0)'
	local v
	for v in ip faas-netns unshare-n acquire release; do
		[ "$(jq -c "select(.bench.variant == \"$v\")" <<<"$output" | wc -l)" -eq 1 ] || { echo "no record of $v" >&2; return 1; }
	done
	[ "$(jq -r 'select(.bench.variant == "faas-netns") | .bench.vs.baseline' <<<"$output")" = ip ]
	jq -se 'map(select(.bench.variant == "acquire"))[0].bench.goal.met | type == "boolean"' <<<"$output" >/dev/null
	# It named what it made (the pools' namespaces and veths, its bridges),
	# and none of it is left; nor its private state, nor anything of ours.
	[ "$(jq -r 'select(.bench.variant == "acquire") | .bench.names[]' <<<"$output" | grep -c '^f[nv][0-9a-f]*-\*$')" -ge 2 ]
	[ -z "$(bench_leftovers)" ] || { bench_leftovers >&2; return 1; }
	[ -z "$(ls "$FAAS_RUN_DIR")" ]
	[ ! -e "$FAAS_RUN_DIR/run.db" ] || [ "$(sqlite3 "$FAAS_RUN_DIR/run.db" "SELECT count(*) FROM netns_pools")" = 0 ]
	[ ! -s "$FAAS_TMP/bench.err" ] || { cat "$FAAS_TMP/bench.err" >&2; return 1; }
}

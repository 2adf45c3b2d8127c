#!/usr/bin/env bats
# The record protocol: the JSON Schema under schema/ is valid, accepts the
# records faaskit prints, and rejects the ones it must.

load helpers/common

setup() { faas_setup; requires python3; }
teardown() { faas_teardown; }

validate() { "$FAAS_SOURCE_DIR/tests/bats/helpers/validate-records.py"; }

@test "records: the schema accepts well-formed records of every concern" {
	run_faas validate <<'EOF2'
{"v":1}
{"v":1,"extra":{"kept":true},"timing":{"fork.mount":140,"pool.acquire":12}}
{"v":1,"error":{"tool":"faas-fork","status":66,"message":"fork 3f2a: no such fork"}}
{"v":1,"bench":{"scenario":"init","variant":"tini","skipped":"tini not installed"}}
{"v":1,"bench":{"scenario":"init","variant":"faas-init","iterations":5,"warmup":1,"unit":"us","p50":800,"p90":900,"p99":950,"min":700,"max":990,"mean":810,"stddev":20}}
EOF2
	[ "$status" -eq 0 ]
}

@test "records: the schema rejects a wrong version, a bad timing key and a half bench record" {
	run_faas validate <<<'{"v":2}'
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 1: v:"* ]]
	run_faas validate <<<'{"v":1,"timing":{"nodot":5}}'
	[ "$status" -eq 1 ]
	run_faas validate <<<'{"v":1,"timing":{"fork.mount":-1}}'
	[ "$status" -eq 1 ]
	run_faas validate <<<'{"v":1,"bench":{"scenario":"init","variant":"x","p50":3}}'
	[ "$status" -eq 1 ]
	[[ "$output" == *"'p99' is a required property"* ]]
	run_faas validate <<<'{"v":1,"error":{"tool":"faas-fork","status":0,"message":"x"}}'
	[ "$status" -eq 1 ]
	run_faas validate <<<'[1,2]'
	[ "$status" -eq 1 ]
	run_faas validate </dev/null
	[ "$status" -eq 2 ]
}

@test "records: faas-bench output follows the schema" {
	requires tini dumb-init catatonit
	run_faas "$FAAS_BENCH" run init --iterations 3 --warmup 1 --json
	[ "$status" -eq 0 ]
	echo "$output" | validate
	run_faas "$FAAS_BENCH" run startup --iterations 3 --warmup 1 --json
	[ "$status" -eq 0 ]
	echo "$output" | validate
}

@test "records: faas-fork output follows the schema, and its rm refuses a record's paths" {
	requires root overlay
	mkdir -p "$FAAS_TMP/base" && echo hi >"$FAAS_TMP/base/f"
	run_faas "$FAAS_BIN_DIR/faas-fork" --overlay --base "$FAAS_TMP/base" --holder $$ </dev/null
	[ "$status" -eq 0 ]
	echo "$output" | validate
	local id
	id=$(jq -r .fork.id <<<"$output")
	faas_on_teardown "'$FAAS_BIN_DIR/faas-fork' rm '$id' </dev/null >/dev/null 2>&1"
	# A record naming paths it does not own is information, never an instruction.
	run_faas "$FAAS_BIN_DIR/faas-fork" rm <<<'{"v":1,"fork":{"id":"0000deadbeef","merged":"/"}}'
	[ "$status" -eq 66 ]
	[ -d /proc/self ]
	run_faas "$FAAS_BIN_DIR/faas-fork" rm "$id" </dev/null
	[ "$status" -eq 0 ]
}

@test "records: a bad line exits 65 naming the line, and --keep-going goes on" {
	requires root
	run_faas "$FAAS_BIN_DIR/faas-fork" rm <<<$'{"v":1}\nnot json'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line "* ]]
	run_faas "$FAAS_BIN_DIR/faas-fork" rm <<<'[1,2]'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line 1"* ]]
	[[ "$stderr" == *"not a JSON object"* ]]
}

#!/usr/bin/env bats
# Every built tool follows the command-line conventions: --help, --version,
# 64 on a bad flag, and a man page.

load helpers/common

setup() { faas_setup; }
teardown() { faas_teardown; }

tools() { printf '%s\n' $FAAS_TOOLS; }

@test "cli: the tool list is not empty and every tool is built" {
	[ "$(tools | wc -l)" -ge 2 ]
	local t
	for t in $(tools); do
		[ -x "$FAAS_BIN_DIR/$t" ] || { echo "not built: $t" >&2; return 1; }
	done
}

@test "cli: every tool answers --help on stdout and exits 0" {
	local t
	for t in $(tools); do
		run_faas "$FAAS_BIN_DIR/$t" --help
		[ "$status" -eq 0 ]
		[[ "$output" == *"$t"* ]] || [[ "$output" == *Usage* ]] || [[ "$output" == *usage* ]]
		[[ "$output" == *--version* ]]
		[ -z "$stderr" ]
	done
}

@test "cli: every tool prints its name and the project version with --version" {
	local t version
	version=$(sed -n 's/^project(faaskit VERSION \([0-9.]*\).*/\1/p' "$FAAS_SOURCE_DIR/CMakeLists.txt")
	[ -n "$version" ]
	for t in $(tools); do
		run_faas "$FAAS_BIN_DIR/$t" --version
		[ "$status" -eq 0 ]
		[ "$output" = "$t $version" ]
	done
}

@test "cli: every tool exits 64 on an unknown flag, naming it on one stderr line" {
	local t
	for t in $(tools); do
		run_faas -64 "$FAAS_BIN_DIR/$t" --no-such-flag
		[[ "$stderr" == *"--no-such-flag"* ]]
		[[ "$stderr" == "$t: "* ]]
		[ -z "$output" ]
	done
}

@test "cli: every tool has a man page that man can render" {
	local t page
	for t in $(tools); do
		page="$FAAS_MAN_DIR/$t.1"
		[ -s "$page" ] || { echo "no man page: $page" >&2; return 1; }
		grep -q '^\.SH "*EXIT STATUS' "$page" || { echo "$page: no EXIT STATUS section" >&2; return 1; }
		if command -v man >/dev/null; then
			MANWIDTH=80 man -l "$page" >/dev/null 2>&1
		fi
	done
	[ -s "$FAAS_MAN_DIR/faas-records.7" ]
}

#!/bin/sh
# Installs the Debian packages faaskit needs, and nothing else.
#
#   scripts/install-deps.sh [build|test|demo|bench|all]...
#
# build: compilers and libraries; test: + bats, jq, handler runtimes and the
# init peers the tests run; demo: what `make demo` runs; bench: + every peer
# faas-bench compares with. Idempotent: when every package is present it
# returns without touching apt (a dpkg-query, a few milliseconds).
set -eu

BUILD="cmake make g++ gcc pkg-config musl-tools
  libcli11-dev libfmt-dev nlohmann-json3-dev libarchive-dev libsqlite3-dev
  libseccomp-dev libgtest-dev scdoc"
TEST="bats jq curl busybox-static nodejs python3 python3-jsonschema iproute2 procps util-linux
  btrfs-progs xfsprogs attr acl sqlite3 e2fsprogs bsdutils
  tini dumb-init catatonit"
DEMO="curl busybox-static python3 jq tini dumb-init catatonit"
BENCH="hyperfine tini dumb-init catatonit crun runc bubblewrap docker.io"

want=""
[ $# -eq 0 ] && set -- build
for group in "$@"; do
	case "$group" in
	build) want="$want $BUILD" ;;
	test)  want="$want $BUILD $TEST" ;;
	demo)  want="$want $BUILD $DEMO" ;;
	bench) want="$want $BUILD $TEST $BENCH" ;;
	all)   want="$want $BUILD $TEST $DEMO $BENCH" ;;
	*) echo "install-deps: unknown group \`$group' (build, test, demo, bench, all)" >&2; exit 64 ;;
	esac
done

pkgs=$(printf '%s\n' $want | sort -u)
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' $pkgs 2>/dev/null |
	awk '$1 == "ii" { print $2 }')
missing=""
for pkg in $pkgs; do
	case " $(echo $installed) " in
	*" $pkg "*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing; run as root to install them" >&2
	exit 77
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; an old list may name versions the
# archive no longer has, so refresh once and retry on failure.
if ! apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

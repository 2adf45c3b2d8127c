#!/bin/sh
# A handler for faas-init's supervision tests: it leaves an orphan in another
# session (and so another process group), checks that the orphan was adopted
# by its own parent (faas-init as PID 1 or --subreaper), lets it exit, and
# checks that it was reaped (a zombie keeps its /proc entry).
#   usage: reap-check.sh DIR      exits 0 and prints "reaped" on success
set -eu
dir=$1
mkfifo "$dir/hold"
# The orphan blocks opening the fifo until this script writes to it.
setsid -w sh -c 'cat "$1" >/dev/null & echo $! >"$2"' sh "$dir/hold" "$dir/orphan.pid"
pid=$(cat "$dir/orphan.pid")
ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status")
[ "$ppid" = "$PPID" ] || { echo "orphan $pid has parent $ppid, not $PPID" >&2; exit 10; }
[ "$(cut -d' ' -f5 "/proc/$pid/stat")" != "$(cut -d' ' -f5 /proc/$$/stat)" ] ||
	{ echo "orphan $pid is in this process group" >&2; exit 11; }
echo go >"$dir/hold"
i=0
while [ -e "/proc/$pid" ]; do # bounded polling for the reap
	i=$((i + 1))
	[ "$i" -le 1000 ] || { echo "orphan $pid not reaped: $(cat "/proc/$pid/stat")" >&2; exit 12; }
	sleep 0.01
done
echo reaped

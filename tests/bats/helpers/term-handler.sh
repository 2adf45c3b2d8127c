#!/bin/sh
# A handler that waits for SIGTERM and exits 3 when it comes.
#   usage: term-handler.sh READY_FILE   (writes its pid there once the trap is set)
trap 'kill "$child" 2>/dev/null; exit 3' TERM
sleep 60 & # bounded, should a test fail half way
child=$!
echo $$ >"$1.tmp" && mv "$1.tmp" "$1"
wait "$child"
exit 4

#!/bin/sh
# A faaskit handler in POSIX sh (dash, busybox sh): answers one HTTP request
# on the client connection faas-init passed (FAAS_CLIENT_FD, or fd 3 under
# LISTEN_FDS).
fd=${FAAS_CLIENT_FD:-}
[ -n "${LISTEN_FDS:-}" ] && fd=3
case $fd in
'' | *[!0-9]*)
	echo "hello.sh: FAAS_CLIENT_FD is not set (run me under faas-init)" >&2
	exit 64
	;;
esac
eval "exec <&$fd >&$fd $fd<&-"

cr=$(printf '\r')
IFS=' ' read -r method path _ || exit 65
while IFS= read -r line; do
	[ -z "${line%"$cr"}" ] && break
done
echo "hello.sh: ${FAAS_REQUEST_ID:--}: $method $path" >&2

body="hello from faaskit (sh)"
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' \
	"$((${#body} + 1))" "$body"

#!/bin/sh
# Builds a minimal sandbox rootfs: busybox-static and its applets, the
# mount points a sandbox needs, and a handler at /hello-c.
#
#   examples/make-rootfs.sh DIR HANDLER
set -eu
[ $# -eq 2 ] || { echo "usage: make-rootfs.sh DIR HANDLER" >&2; exit 64; }
dir=$1 handler=$2
busybox=$(command -v busybox) || { echo "make-rootfs: busybox not found (Debian busybox-static)" >&2; exit 69; }
mkdir -p "$dir/bin" "$dir/dev" "$dir/proc" "$dir/run" "$dir/tmp" "$dir/etc"
cp "$busybox" "$dir/bin/busybox"
for applet in sh cat ls echo printf sleep id env; do
	ln -sf busybox "$dir/bin/$applet"
done
cp "$handler" "$dir/hello-c"
echo "faas:x:0:0:sandbox:/:/bin/sh" >"$dir/etc/passwd"

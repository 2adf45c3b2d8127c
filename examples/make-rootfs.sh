#!/bin/sh
# Builds a minimal sandbox rootfs: busybox-static and its applets, the
# mount points a sandbox needs (and /usr, /lib, /lib64 for the host's
# /usr bound read-only), a handler at /hello-c and the Python example at
# /hello.py.
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
install -m 755 "$(dirname "$0")/handlers/hello.py" "$dir/hello.py"
echo "faas:x:0:0:sandbox:/:/bin/sh" >"$dir/etc/passwd"
# Mount points for the host's /usr, bound read-only by a template
# (--bind-ro /usr) so that a handler can run the host's python3. On a
# usrmerged host (Debian 12) /lib and /lib64 are links into /usr; on
# another, bind them too (--bind-ro /lib --bind-ro /lib64).
mkdir -p "$dir/usr"
for d in lib lib64; do
	if [ -L "/$d" ]; then
		ln -sfn "$(readlink "/$d")" "$dir/$d"
	elif [ -d "/$d" ]; then
		mkdir -p "$dir/$d"
	fi
done

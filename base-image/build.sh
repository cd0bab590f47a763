#!/usr/bin/env bash
# Builds base-image/busybox.tar: a minimal root filesystem made from Debian's busybox-static
# package. Usage: base-image/build.sh [OUTPUT.tar]   (default: base-image/busybox.tar)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/busybox.tar}
if ! dpkg -s busybox-static >/dev/null 2>&1; then
    echo "base-image: installing busybox-static" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
bb=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n1)
[ -x "$bb" ] || { echo "base-image: busybox-static has no /bin/busybox" >&2; exit 1; }
tmp=$(mktemp -d /tmp/rocker-base.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root"
for d in bin dev etc home proc root sys tmp usr/bin usr/sbin sbin var/log var/run var/tmp www; do
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
# One link per applet, where busybox says it lives (bin, sbin, usr/bin, usr/sbin).
"$root/bin/busybox" --list-full | while read -r applet; do
    [ -e "$root/$applet" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln "$root/bin/busybox" "$root/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
tty:x:5:
www-data:x:33:
users:x:100:
nogroup:x:65534:
G
echo "hello from rocker" > "$root/www/index.html"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime='2024-01-01 00:00:00' \
    -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "base-image: wrote $out ($(du -h "$out" | cut -f1))"

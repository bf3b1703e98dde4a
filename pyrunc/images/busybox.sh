#!/bin/sh
# Build the root filesystem of pyrunc's built-in `busybox` image from Debian's busybox-static.
#
#   sh pyrunc/images/busybox.sh DEST   (also rootfs/busybox.sh, a link to it)
#
# Makes DEST/rootfs/ (a busybox root filesystem) and DEST/rootfs.tar (the same tree as one
# reproducible layer); `pyrunc image import --builtin` (pyrunc/images/builtin.py) imports it with the
# config of Docker Hub's busybox (Cmd ["sh"], no Entrypoint). The build
# happens in DEST.tmp.$$ and is moved into place at the end; a stamp holding the
# sha256 of the busybox binary and of this script makes a re-run a no-op.
# BUSYBOX=PATH overrides the input binary (default /bin/busybox).
set -eu
umask 022

usage() { echo "usage: $0 DEST" >&2; exit 2; }
die() { echo "busybox.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || usage
DEST=${1%/}
[ -n "$DEST" ] || usage
BUSYBOX=${BUSYBOX:-/bin/busybox}

[ -f "$BUSYBOX" ] || die "$BUSYBOX not found: install the busybox-static package (apt-get install busybox-static)"
# A dynamic busybox (Debian's `busybox` package) would need the host's libc inside the
# image. ldd prints "not a dynamic executable" (or "statically linked") for a static ELF.
case "$(LC_ALL=C ldd "$BUSYBOX" 2>&1 || true)" in
    *"not a dynamic executable"*|*"statically linked"*) ;;
    *) die "$BUSYBOX is dynamically linked: install the busybox-static package (apt-get install busybox-static)" ;;
esac

stamp="busybox $(sha256sum <"$BUSYBOX" | cut -d' ' -f1)
recipe $(sha256sum <"$0" | cut -d' ' -f1)"
if [ -f "$DEST/.stamp" ] && [ "$(cat "$DEST/.stamp")" = "$stamp" ] && [ -f "$DEST/rootfs.tar" ]; then
    echo "busybox image up to date: $DEST"
    exit 0
fi

mkdir -p "$(dirname "$DEST")"
TMP="$DEST.tmp.$$"
OLD="$DEST.old.$$"
trap 'rm -rf "$TMP" "$OLD"' EXIT
rm -rf "$TMP"
R="$TMP/rootfs"
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" \
    "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/root" "$R/var/www" "$R/etc"
chmod 1777 "$R/tmp"
chmod 700 "$R/root"

cp "$BUSYBOX" "$R/bin/busybox"
chmod 755 "$R/bin/busybox"
# One hard link per applet at the path busybox itself lists (bin/sh, usr/bin/wget, ...);
# hard links keep the image one inode, as Docker Hub's busybox does. `linuxrc` (top level)
# is an initrd relic and is skipped.
"$R/bin/busybox" --list-full | while IFS= read -r applet; do
    case "$applet" in
        bin/busybox|linuxrc) continue ;;
        bin/*|sbin/*|usr/bin/*|usr/sbin/*) ln -f "$R/bin/busybox" "$R/$applet" ;;
    esac
done

cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
www-data:x:33:
nobody:x:65534:
EOF
# The runtime bind-mounts its own files over these three; they only need to exist.
: >"$R/etc/hostname"
: >"$R/etc/hosts"
: >"$R/etc/resolv.conf"

# The layer: a reproducible tar of the tree (names sorted, fixed owner and mtime), so the same
# busybox always gives the same layer digest and image id. `pyrunc image import` makes it an image
# of the store (pyrunc/images/builtin.py).
tar -C "$R" --sort=name --format=gnu --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$TMP/rootfs.tar" .
printf '%s\n' "$stamp" >"$TMP/.stamp"

# A non-empty directory cannot be renamed over another, so the old image moves aside
# first; readers see either the old tree or the new one, except for that one instant.
if [ -e "$DEST" ]; then
    mv "$DEST" "$OLD"
fi
mv "$TMP" "$DEST"
echo "busybox root filesystem built: $DEST"

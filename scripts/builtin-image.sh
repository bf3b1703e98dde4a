#!/bin/sh
# The built-in busybox image, offline: `pyrunc image import --builtin` builds its root filesystem from
# Debian's busybox-static with the recipe shipped in the package (pyrunc/images/busybox.sh, also
# rootfs/busybox.sh) and makes it a normal image of the store, named docker.io/library/busybox:latest
# (the store is $PYRUNC_IMAGES, default /var/lib/pyrunc/images). An installed pyrunc runs the same
# command, so it gets the same image id. Idempotent: the same busybox gives the same layer and image
# id, and an import of what the store already holds only rewrites its name.
#   scripts/builtin-image.sh PYRUNC [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
PYRUNC=${1:?usage: $0 PYRUNC [BUILD_DIR]}
BUILD=${2:-}
"$PYRUNC" image import -q --builtin ${BUILD:+--build-dir "$BUILD"} >/dev/null
echo "built-in image: docker.io/library/busybox:latest"
# Before the image store, the built-in image was a plain directory under the images directory: remove
# it (only that one, recognised by its build stamp) once the store has the image.
legacy="${PYRUNC_IMAGES:-/var/lib/pyrunc/images}/docker.io"
if [ -f "$legacy/library/busybox/latest/.stamp" ]; then
    rm -rf "$legacy/library/busybox/latest"
    rmdir "$legacy/library/busybox" "$legacy/library" "$legacy" 2>/dev/null || true
fi

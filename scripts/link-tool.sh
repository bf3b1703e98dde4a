#!/bin/sh
# Put a program on PATH as a symbolic link, idempotently (scripts/setup.sh links pyrunc so).
#   scripts/link-tool.sh TARGET LINK
# LINK missing: made. LINK a link to TARGET: nothing to do. LINK a link elsewhere (another checkout):
# replaced, and said so. LINK something else (a file of someone else's): left alone, with a warning.
set -eu
TARGET=${1:?usage: $0 TARGET LINK}
LINK=${2:?usage: $0 TARGET LINK}
if [ -L "$LINK" ]; then
    have=$(readlink "$LINK")
    if [ "$have" != "$TARGET" ]; then
        echo "replacing $LINK -> $have with -> $TARGET"
        ln -sfn "$TARGET" "$LINK"
    fi
elif [ -e "$LINK" ]; then
    echo "warning: $LINK exists and is not a link: left alone (run $TARGET instead)" >&2
else
    mkdir -p "$(dirname "$LINK")"
    ln -s "$TARGET" "$LINK"
fi

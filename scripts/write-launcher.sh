#!/bin/sh
# Write pyrunc's launcher: a two-line Python script that starts the interpreter isolated and without site
# (-IS) and imports the entry point from CHECKOUT (scripts/setup.sh links /usr/local/bin/pyrunc to it).
#   scripts/write-launcher.sh PYTHON CHECKOUT DEST [oci]
# With `oci` the launcher runs pyrunc-oci (pyrunc/oci/cli.py console) instead of pyrunc; pyrunc-oci loads site
# itself when it needs the virtualenv's packages (pyseccomp, for a config with linux.seccomp).
# Why not pip's console script: it starts with `site` (the virtualenv's .pth files, ~6 ms of CPU) and
# `import re`, on every command; `pyrunc exec` hands its exec to the supervisor with less than that.
# cli/entry.py loads site itself (site.main()) for every path but that handoff: the other verbs and an
# exec run in process need the virtualenv's packages.
set -eu
PYTHON=${1:?usage: $0 PYTHON CHECKOUT DEST}
CHECKOUT=${2:?usage: $0 PYTHON CHECKOUT DEST}
DEST=${3:?usage: $0 PYTHON CHECKOUT DEST}
ENTRY="from pyrunc.cli.entry import main; sys.exit(main())"
if [ "${4:-}" = oci ]; then
  ENTRY="from pyrunc.oci.cli import console; console()"
fi
case "$PYTHON$CHECKOUT" in
    *"'"*|*'\'*) echo "error: $0: a path with a quote or a backslash cannot go into the launcher" >&2; exit 1 ;;
esac
tmp="$DEST.tmp.$$"
# The kernel passes everything after the interpreter on a #! line as one argument: "-IS", not "-I -S".
cat >"$tmp" <<LAUNCHER
#!$PYTHON -IS
import sys; sys.path.insert(0, '$CHECKOUT')  # noqa: E702 - made by scripts/write-launcher.sh
$ENTRY  # noqa: E702
LAUNCHER
chmod 755 "$tmp"
mv "$tmp" "$DEST"

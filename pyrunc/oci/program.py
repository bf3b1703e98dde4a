"""The program of a process (the init's and exec's command), found in the container's root after the chroot
or pivot_root: HOME from its /etc/passwd, the program from PATH as Go's exec.LookPath does.

A module of its own, with builtin imports only: exec's command child calls these after its chroot, so they are
loaded before it, on the path of every exec (process.py, which re-exports them, loads typing).
"""

from __future__ import annotations

import os
import stat


def _home(uid: int) -> str:
    """The home directory of `uid` in the container's /etc/passwd (read after pivot_root), else "/"."""
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _look_path(name: str, path: str) -> str:
    """Go's exec.LookPath, as runc's init uses it: a name with a slash as is, else the first executable
    regular file of that name in PATH; "" when there is none (not_found() says it in runc's words)."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in path.split(":")] if path else []
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    return ""


def not_found(name: str) -> str:
    where = "executable file not found in $PATH" if "/" not in name else "no such file or directory"
    return f'exec: "{name}": {where}'

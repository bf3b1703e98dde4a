"""Applying a container's process security (capabilities, no_new_privs, seccomp) to the process about to
exec: the code is in pyrunc/linux/privileges.py (its docstring gives the order and why), out of this package
whose __init__ loads typing; the names stay importable from here."""

from __future__ import annotations

from pyrunc.linux.privileges import (  # noqa: F401 - re-exported
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    ProcessSecurity,
    capset,
    drop_bounding,
    set_ambient,
    set_no_new_privs,
)

"""The supervisor's own facts under the state root: <root>/daemon.json (its pid and start time).

Read by the read verbs (is a supervisor watching? if not, phases are Unknown) and by the client;
written by the daemon. Kept here, with the other file formats, so that readers import no supervisor code.
"""

from __future__ import annotations

import os

from pyrunc.linux.syscalls import pid_alive
from pyrunc.store.atomic import read_json


def daemon_json(root: str) -> str:
    return os.path.join(root, "daemon.json")


def daemon_running(root: str) -> bool:
    """A supervisor serves `root`: the recorded pid runs and is the process that wrote the record."""
    facts = read_json(daemon_json(root))
    return bool(facts) and pid_alive(int(facts.get("pid", 0)), facts.get("startTime"))

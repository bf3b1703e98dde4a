"""Waiting for a probe child the way the supervisor does, for the probe tests (unit and integration)."""

from __future__ import annotations

import os
import signal
import time

from pyrunc.probe import ActionResult, action


def wait(spawned: action.Spawned) -> ActionResult:
    """The child's exit, or the SIGKILL backstop once `kill_after` has passed."""
    kill_at = time.monotonic() + spawned.kill_after
    while True:
        pid, status = os.waitpid(spawned.pid, os.WNOHANG)
        if pid:
            return action.collect(spawned, status)
        if time.monotonic() > kill_at:
            os.kill(spawned.pid, signal.SIGKILL)
        time.sleep(0.01)

"""pyrunc daemon: the supervisor (started by the CLI itself; never needed by hand)."""

from __future__ import annotations

from typing import Any


def add_arguments(parser: Any) -> None:
    pass


def run(cfg: Any, args: Any) -> int:
    from pyrunc.supervisor.daemon import run_daemon

    return run_daemon(cfg)

"""pyrunc version"""

from __future__ import annotations

from typing import Any


def add_arguments(parser: Any) -> None:
    pass


def run(cfg: Any, args: Any) -> int:
    from pyrunc import __version__

    print(f"pyrunc {__version__}")
    return 0

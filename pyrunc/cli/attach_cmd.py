"""pyrunc attach POD [-c C] [-i] [-t]: attach to a running container's main process, as kubectl attach."""

from __future__ import annotations

from typing import Any

from pyrunc.cli.view import add_namespace_flag
from pyrunc.errors import PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("name", help="pod NAME or pod/NAME")


def run(cfg: Any, args: Any) -> int:
    raise PyruncError("attach is not implemented yet")

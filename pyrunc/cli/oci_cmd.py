"""pyrunc oci ...: the OCI runtime's command line (`pyrunc-oci`, pyrunc/oci/cli.py), word for word.

Its global flags are its own (`pyrunc oci --root DIR list`: pyrunc-oci's --root, not pyrunc's), so cli/main.py
hands the words after `oci` over before reading pyrunc's global flags.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(parser: Any) -> None:
    parser.add_argument("words", nargs=argparse.REMAINDER, help="pyrunc-oci's flags, verb and arguments")


def forward(words: list[str]) -> int:
    from pyrunc.oci.cli import main

    return main(words)


def run(cfg: Any, args: Any) -> int:
    return forward(list(args.words))

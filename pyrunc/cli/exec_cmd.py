"""pyrunc exec [-i] [-t] NAME [-c C] -- CMD [ARG...]: the command's exit status is pyrunc's.

The caller's stdio never enters the container: the command gets pipes this process relays, or with -it a
pseudo-terminal of the container's own devpts: the runtime service's Exec (runtime/exec_service.py).
"""

from __future__ import annotations

import sys
from typing import Any

from pyrunc.cli.view import add_namespace_flag, load_pod, pick_container
from pyrunc.errors import PyruncError


TAKES_COMMAND = True  # everything after `--` is the command, never parsed as flags


def add_arguments(parser: Any) -> None:
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("name", help="pod NAME or pod/NAME")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.runtime import exec_service

    argv = args.command
    if not argv:
        raise PyruncError("you must specify at least one command for the container")
    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    layout, pod = load_pod(cfg, args.namespace, name)
    container = pick_container(pod, args.container)
    try:
        target = exec_service.target(layout, container)
    except exec_service.NotRunning:
        raise PyruncError(f"cannot exec into a container in a completed pod; current phase is {pod['status']['phase']}"
                          if pod["status"]["phase"] in ("Succeeded", "Failed")
                          else f'container {container} is not running in pod "{name}"') from None
    # kubectl's rules (StreamOptions.SetupTTY): a TTY only with -i and a terminal on stdin; -t alone is ignored.
    tty = args.stdin and args.tty
    if tty and not _is_terminal(0):
        print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)
        tty = False
    code, err = exec_service.exec_stream(target, argv, stdin=args.stdin, tty=tty)
    if err:
        print(f"error: {err}", file=sys.stderr)
    return code


def _is_terminal(fd: int) -> bool:
    import os

    try:
        return os.isatty(fd)
    except OSError:
        return False

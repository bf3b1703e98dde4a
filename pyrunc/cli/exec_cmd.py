"""pyrunc exec [-i] [-t] NAME [-c C] -- CMD [ARG...]: the command's exit status is pyrunc's.

The caller's stdio never enters the container: the command gets pipes this process relays, or with -it a
pseudo-terminal of the container's own devpts (runtime/exec.py, runtime/exec_io.py).
"""

from __future__ import annotations

import sys
from typing import Any

from pyrunc.cli.view import add_namespace_flag, container_on_disk, load_pod, pick_container
from pyrunc.errors import PyruncError
from pyrunc.linux.syscalls import pid_alive


TAKES_COMMAND = True  # everything after `--` is the command, never parsed as flags


def add_arguments(parser: Any) -> None:
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the command")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("name", help="pod NAME or pod/NAME")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.runtime.config import ContainerConfig
    from pyrunc.runtime.exec import exec_in

    argv = args.command
    if not argv:
        raise PyruncError("you must specify at least one command for the container")
    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    layout, pod = load_pod(cfg, args.namespace, name)
    container = pick_container(pod, args.container)
    rec = container_on_disk(layout, container)
    pid = int(rec.get("pid", 0))
    if not pid or rec.get("terminated") or not pid_alive(pid, rec.get("startTime")):
        raise PyruncError(f"cannot exec into a container in a completed pod; current phase is {pod['status']['phase']}"
                          if pod["status"]["phase"] in ("Succeeded", "Failed")
                          else f'container {container} is not running in pod "{name}"')
    with open(layout.container_config(container), encoding="utf-8") as f:
        ccfg = ContainerConfig.from_json(f.read())
    procs = [f"{d}/cgroup.procs" for d in (rec.get("cgroupPaths") or {}).values()]
    # kubectl's rules (StreamOptions.SetupTTY): a TTY only with -i and a terminal on stdin; -t alone is ignored.
    tty = args.stdin and args.tty
    if tty and not _is_terminal(0):
        print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)
        tty = False
    code, err = exec_in(ccfg, pid, argv, cgroup_procs=procs, stdin=args.stdin, tty=tty)
    if err:
        print(f"error: {err}", file=sys.stderr)
    return code


def _is_terminal(fd: int) -> bool:
    import os

    try:
        return os.isatty(fd)
    except OSError:
        return False

"""pyrunc logs NAME [-c C] [-f] [-p] [--tail N] [--timestamps]"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from pyrunc.cli.view import add_namespace_flag, container_on_disk, load_pod, pick_container
from pyrunc.errors import PyruncError
from pyrunc.linux.syscalls import pid_alive
from pyrunc.store.atomic import read_json
from pyrunc.store.logs import Follower, complete, open_instance, parse_records, read_instance
from pyrunc.store.paths import pod_paths


def add_arguments(parser: Any) -> None:
    parser.add_argument("name", help="pod NAME or pod/NAME")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("-f", "--follow", action="store_true")
    parser.add_argument("-p", "--previous", action="store_true")
    parser.add_argument("--tail", type=int, default=-1)
    parser.add_argument("--timestamps", action="store_true")


def render(data: bytes, timestamps: bool) -> bytes:
    out = []
    for rec in parse_records(data):
        prefix = rec.timestamp.encode() + b" " if timestamps else b""
        out.append(prefix + rec.content + (b"" if rec.partial else b"\n"))
    return b"".join(out)


def tail_lines(data: bytes, n: int) -> bytes:
    if n < 0:
        return data
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join(line + b"\n" for line in lines[-n:]) if n else b""


def run(cfg: Any, args: Any) -> int:
    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    layout, pod = load_pod(cfg, args.namespace, name)
    container = pick_container(pod, args.container)
    if args.container is None and len(pod["spec"]["containers"]) > 1:
        others = ", ".join(c["name"] for c in pod["spec"]["containers"])
        print(f'Defaulted container "{container}" out of: {others}', file=sys.stderr)
    rec = container_on_disk(layout, container)
    count = int(rec.get("restartCount", 0))
    if args.previous:
        if count == 0:
            raise PyruncError(f'previous terminated container "{container}" in pod "{name}" not found')
        count -= 1
    path = pod_paths(cfg, pod).log_file(container, count)
    rotated, current = open_instance(path)
    if current is None and not rotated:
        if not rec.get("pid"):
            raise PyruncError(f'container "{container}" in pod "{name}" is waiting to start: '
                              + ((rec.get("waiting") or {}).get("reason") or "ContainerCreating"))
        return 0
    out = sys.stdout.buffer
    follower = Follower(path, current)
    try:
        # only whole records; a torn last line is printed once complete
        data, pending = complete(current.read() if current is not None else b"")
        data = read_instance(rotated, data, args.tail)
        out.write(tail_lines(render(data, args.timestamps), args.tail))
        out.flush()
        if not args.follow or args.previous:
            return 0
        quiet = 0
        while True:
            chunk = follower.read()
            if chunk:
                quiet = 0
                data, pending = complete(pending + chunk)
                out.write(render(data, args.timestamps))
                out.flush()
                continue
            rec = container_on_disk(layout, container)
            running = int(rec.get("restartCount", 0)) == count and pid_alive(int(rec.get("pid", 0)), rec.get("startTime"))
            if not running and not os.path.exists(layout.dir):
                return 0
            quiet = 0 if running else quiet + 1
            if quiet > 3:
                return 0
            time.sleep(0.1)
    finally:
        follower.close()

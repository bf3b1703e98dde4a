"""pyrunc logs NAME [-c C | --all-containers] [-f] [-p] [--tail N] [--timestamps] [--prefix]

`-f` follows the container across its restarts (the next instance's log after the last one's end)
until the container has ended for good or the pod is deleted. kubectl's `logs -f` ends with the
instance it started on (the kubelet closes the stream when that container exits); pyrunc goes on
as issue 11 asks, which is what a user re-running `kubectl logs -f` after each restart sees.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pyrunc.cli.follow import ContainerLog, LinePrefixer
from pyrunc.cli.view import add_namespace_flag, container_on_disk, load_pod, pick_container
from pyrunc.errors import NotFound, PyruncError
from pyrunc.store.logs import Follower, complete, open_instance, parse_records, read_instance
from pyrunc.store.paths import pod_paths

POLL = 0.1  # seconds between two looks at a followed log that had nothing new


def add_arguments(parser: Any) -> None:
    parser.add_argument("name", help="pod NAME or pod/NAME")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("-f", "--follow", action="store_true",
                        help="stream new lines, across restarts, until the container ends for good or the pod is deleted")
    parser.add_argument("-p", "--previous", action="store_true")
    parser.add_argument("--tail", type=int, default=-1)
    parser.add_argument("--timestamps", action="store_true")
    parser.add_argument("--all-containers", action="store_true", help="every container of the pod (init containers first)")
    parser.add_argument("--prefix", action="store_true", help="start each line with [pod/NAME/CONTAINER]")


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


def ended(pod: dict[str, Any], container: str) -> bool:
    """The container has terminated and will not run again. Decided by the restart policy, not by
    the status alone: between an exit and the worker's decision to restart, a restarting container
    shows as terminated for a moment. (A pod being deleted ends the follow as its directory goes.)"""
    spec = pod["spec"]
    status = pod.get("status") or {}
    policy = spec.get("restartPolicy", "Always")
    inits = [c["name"] for c in spec.get("initContainers", [])]
    sidecars = [c["name"] for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always"]
    for st in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        if st["name"] != container:
            continue
        term = st["state"].get("terminated")
        if term is None or container in sidecars:
            return False
        code = int(term.get("exitCode", 0))
        if container in inits:  # an init container that failed runs again unless the pod has failed
            return code == 0 or policy == "Never"
        return policy == "Never" or (policy == "OnFailure" and code == 0)
    return True


def run(cfg: Any, args: Any) -> int:
    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    layout, pod = load_pod(cfg, args.namespace, name)
    if args.all_containers:
        if args.container:
            raise PyruncError(f"--all-containers=true should not be specified with container name {args.container}")
        containers = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    else:
        containers = [pick_container(pod, args.container)]
        if args.container is None and len(pod["spec"]["containers"]) > 1:
            others = ", ".join(c["name"] for c in pod["spec"]["containers"])
            print(f'Defaulted container "{containers[0]}" out of: {others}', file=sys.stderr)
    paths = pod_paths(cfg, pod)
    out = sys.stdout.buffer
    streams: list[tuple[ContainerLog, LinePrefixer]] = []
    try:
        for container in containers:
            rec = container_on_disk(layout, container)
            count = int(rec.get("restartCount", 0))
            if args.previous:
                if count == 0:
                    if args.all_containers:
                        continue
                    raise PyruncError(f'previous terminated container "{container}" in pod "{name}" not found')
                count -= 1
            path = paths.log_file(container, count)
            rotated, current = open_instance(path)
            if current is None and not rotated:
                if not rec.get("pid") and not args.all_containers:  # kubectl's error, with -f too
                    raise PyruncError(f'container "{container}" in pod "{name}" is waiting to start: '
                                      + ((rec.get("waiting") or {}).get("reason") or "ContainerCreating"))
                if not args.follow:
                    continue  # --all-containers -f: followed from its start once it starts
            prefix = LinePrefixer(f"[pod/{name}/{container}] ".encode() if args.prefix else b"")
            # only whole records; a torn last line is printed once complete
            data, pending = complete(current.read() if current is not None else b"")
            data = read_instance(rotated, data, args.tail)
            out.write(prefix(tail_lines(render(data, args.timestamps), args.tail)))
            out.flush()
            if args.follow and not args.previous:
                log = ContainerLog(paths, container, count)
                if current is not None:
                    log.adopt(Follower(path, current), pending)
                streams.append((log, prefix))
            elif current is not None:
                current.close()
        if streams:
            follow(cfg, args.namespace, name, str(pod["metadata"].get("uid", "")), streams, args.timestamps)
        return 0
    finally:
        for log, _ in streams:
            log.close()


def follow(cfg: Any, namespace: str, name: str, uid: str, streams: list[tuple[ContainerLog, LinePrefixer]],
           timestamps: bool) -> None:
    """Print what the containers write until each has ended for good or the pod is gone."""
    out = sys.stdout.buffer
    while True:
        try:
            layout, pod = load_pod(cfg, namespace, name)
        except NotFound:
            return
        if str(pod["metadata"].get("uid", "")) != uid:
            return  # deleted and created again under the same name: another pod
        # The view is read before the logs: a container it shows ended has its log complete.
        done = True
        wrote = False
        for log, prefix in streams:
            count = int(container_on_disk(layout, log.container).get("restartCount", 0))
            data = log.read(count)
            if data:
                out.write(prefix(render(data, timestamps)))
                wrote = True
            done = done and ended(pod, log.container)
        if wrote:
            out.flush()
        if done:
            return
        if not wrote:
            time.sleep(POLL)

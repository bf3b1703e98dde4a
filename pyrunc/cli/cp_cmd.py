"""pyrunc cp SRC DEST [-c C]: copy files and directories to and from a container, as kubectl cp.

One side is `[[namespace/]pod:]path`, the other a local path. Like kubectl, it is tar through exec: the
container's own `tar` runs through the runtime service's exec (runtime/exec_service.py), so every rule of
exec holds (namespaces, cgroup, user, capabilities, seccomp; only pipes enter the container).

    from a container:  tar cf - -C DIR NAME   in the container, unpacked here by runtime/copy.py, which
                       trusts nothing in the archive (names leaving the destination, symlinks, devices)
    into a container:  the archive is made here, `tar xmf - -C DIR` unpacks it in the container
"""

from __future__ import annotations

import os
import posixpath
import sys
import tarfile
import threading
from typing import Any, Callable

from pyrunc.cli.view import add_namespace_flag, load_pod, pick_container
from pyrunc.errors import PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("src", help="[[namespace/]pod:]path or a local path")
    parser.add_argument("dest", help="[[namespace/]pod:]path or a local path")
    parser.add_argument("-c", "--container")
    parser.add_argument("--no-preserve", action="store_true",
                        help="into a container: files are owned by the container's user, not root")
    add_namespace_flag(parser)


def run(cfg: Any, args: Any) -> int:
    from pyrunc.runtime.copy import parse_file_spec

    src, dest = parse_file_spec(args.src), parse_file_spec(args.dest)
    if (src.pod is None) == (dest.pod is None):
        raise PyruncError("one of src or dest must be a local file specification")
    if not src.path or not dest.path:
        raise PyruncError("filepath can not be empty")
    remote = src if src.pod is not None else dest
    assert remote.pod is not None
    layout, pod = load_pod(cfg, remote.namespace or args.namespace, remote.pod)
    target = _target(layout, pod, pick_container(pod, args.container))
    if src.pod is not None:
        return _from_container(target, src.path, dest.path)
    return _to_container(target, src.path, dest.path, args.no_preserve)


def _target(layout: Any, pod: dict[str, Any], container: str) -> Any:
    from pyrunc.runtime import exec_service

    try:
        return exec_service.target(layout, container)
    except exec_service.NotRunning:
        phase = pod["status"]["phase"]
        if phase in ("Succeeded", "Failed"):
            raise PyruncError(f"cannot exec into a container in a completed pod; current phase is {phase}") from None
        raise PyruncError(f'container {container} is not running in pod "{pod["metadata"]["name"]}"') from None


def _collect(fd: int, into: bytearray) -> threading.Thread:
    """Read `fd` to its end in a thread (the CLI is not the daemon: threads are fine here)."""
    def loop() -> None:
        with open(fd, "rb", buffering=0) as f:
            while chunk := f.read(65536):
                into += chunk

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def _finish(p: Any, threads: list[threading.Thread], errors: bytearray, what: str) -> None:
    from pyrunc.runtime import exec_service

    for t in threads:
        t.join()
    code = exec_service.finish(p)
    text = bytes(errors).decode(errors="replace").strip()
    if text:
        print(text, file=sys.stderr)
    if code != 0:
        raise PyruncError(f"{what} in the container exited with status {code}")


def _from_container(target: Any, path: str, dest: str) -> int:
    from pyrunc.runtime import exec_service
    from pyrunc.runtime.copy import Unpacker, remote_source

    directory, name = remote_source(path)
    p = exec_service.exec_pipes(target, ["tar", "cf", "-", "-C", directory, name])
    os.close(p.stdin)
    errors = bytearray()
    threads = [_collect(p.stderr, errors)]
    warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr)  # noqa: E731
    try:
        with open(p.stdout, "rb") as out:
            Unpacker(dest, name, warn).unpack(out)
            while out.read(65536):  # what follows the archive's end: read, so that tar is not blocked
                pass
    except BaseException:
        # Our end is closed: tar gets EPIPE and exits; its status would only hide this error.
        for t in threads:
            t.join()
        exec_service.finish(p)
        raise
    _finish(p, threads, errors, "tar")
    return 0


def _is_directory(target: Any, path: str) -> bool:
    from pyrunc.runtime import exec_service

    return exec_service.exec_sync(target, ["test", "-d", path], timeout=30).exit_code == 0


def _to_container(target: Any, local: str, path: str, no_preserve: bool) -> int:
    from pyrunc.runtime import exec_service

    if not os.path.lexists(local):
        raise PyruncError(f"{local} doesn't exist in local filesystem")
    name = os.path.basename(os.path.normpath(local))
    remote = posixpath.normpath("/" + path.lstrip("/"))
    # As kubectl: `pod:/dir/` or an existing directory in the container receives the source under its own name.
    if path.endswith("/") or _is_directory(target, remote):
        remote = posixpath.join(remote, name)
    if remote == "/":
        raise PyruncError("cannot copy over the container's root directory")
    directory, base = posixpath.split(remote)

    def entry(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
            print(f'warning: skipping "{info.name}": not a regular file, directory or symlink', file=sys.stderr)
            return None
        if not no_preserve:  # root inside the container; with --no-preserve tar leaves them to its user
            info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    # The container's tar unpacks the archive in its own mount namespace and chrooted root: whatever names
    # or symlinks the archive holds, it cannot reach the host's files (exec never hands it a host path).
    argv = ["tar", "xmf", "-", "-C", directory] + (["-o"] if no_preserve else [])
    p = exec_service.exec_pipes(target, argv)
    errors, output = bytearray(), bytearray()
    threads = [_collect(p.stderr, errors), _collect(p.stdout, output)]
    try:
        with open(p.stdin, "wb") as stdin, tarfile.open(fileobj=stdin, mode="w|", format=tarfile.PAX_FORMAT) as t:
            t.add(local, arcname=base, recursive=True, filter=entry)
    except BrokenPipeError:
        pass  # tar in the container stopped reading: its status and message say why
    finally:
        _finish(p, threads, errors, "tar")
    return 0

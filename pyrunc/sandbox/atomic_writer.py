"""The kubelet's atomic writer (pkg/volume/util/atomic_writer.go): the files of a configMap, secret,
projected or downwardAPI volume, replaced all at once so that a reader sees the old set or the new one,
never half of each.

    <volume>/
        ..2026_12_01_23_14_26.123456789/    the current data (a timestamped directory, 0755)
            key                              the files, with their modes (parents 0755)
            conf/app.yaml
        ..data -> ..2026_12_01_23_14_26.123456789
        key -> ..data/key                    one symlink per top-level name of the payload
        conf -> ..data/conf

An update writes a new timestamped directory, points a new symlink `..data_tmp` at it and renames that
over `..data` (rename(2) is atomic), adds the top-level links new names need, removes those of names
gone, then the old directory. Applications that watch `..data` (or reopen their files) see the change;
a subPath bind of one file keeps the inode it was given at start (as in Kubernetes: not updated).

The volume directory is the supervisor's (containers mount it read-only), but the payload's paths come
from the manifest: each one is checked (relative, no `..` element, not starting with `..`), and every
file is created relative to the descriptor of its resolved parent inside the new directory, never
following a symlink (linux/safepath.py), so no path ever leads out of the volume.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import stat
import time
from typing import Iterable, Mapping, NamedTuple

from pyrunc.errors import PyruncError
from pyrunc.linux import safepath

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"
_MAX_PATH = 4096
_MAX_NAME = 255


class FileProjection(NamedTuple):
    data: bytes
    mode: int


class PayloadError(PyruncError):
    """A payload path that could leave the volume or clash with the writer's own entries."""


def check_path(path: str) -> None:
    """validatePath: relative, short enough, no `..` element, not starting with `..`."""
    if not path:
        raise PayloadError("invalid path: must not be empty")
    if len(path) > _MAX_PATH:
        raise PayloadError(f"invalid path: must be less than or equal to {_MAX_PATH} characters")
    if path.startswith("/"):
        raise PayloadError(f"invalid path {path!r}: must be relative path")
    parts = path.split("/")
    if any(len(p) > _MAX_NAME for p in parts):
        raise PayloadError(f"invalid path {path!r}: element too long")
    if ".." in parts:
        raise PayloadError(f"invalid path {path!r}: must not contain '..'")
    if path.startswith(".."):
        raise PayloadError(f"invalid path {path!r}: must not start with '..'")
    if any(p in ("", ".") for p in parts):
        raise PayloadError(f"invalid path {path!r}: must not contain empty or '.' elements")


def _timestamp_name() -> str:
    # Go's MkdirTemp(dir, "..2006_01_02_15_04_05.") appends random digits; nanoseconds serve the same end here.
    now = time.time_ns()
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime(now // 1_000_000_000))
    return f"..{stamp}.{now % 1_000_000_000:09d}{random.randrange(1000):03d}"


def _read_tree(root_fd: int, name: str) -> dict[str, FileProjection] | None:
    """The files below directory `name` of `root_fd` (relative paths), None when it is not a directory."""
    try:
        top = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
    except OSError:
        return None
    out: dict[str, FileProjection] = {}
    stack: list[tuple[int, str]] = [(top, "")]
    try:
        while stack:
            dfd, prefix = stack.pop()
            try:
                for entry in os.listdir(dfd):
                    st = os.stat(entry, dir_fd=dfd, follow_symlinks=False)
                    rel = prefix + entry
                    if stat.S_ISDIR(st.st_mode):
                        sub = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                        stack.append((sub, rel + "/"))
                    elif stat.S_ISREG(st.st_mode):
                        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                        try:
                            chunks = []
                            while chunk := os.read(fd, 1 << 16):
                                chunks.append(chunk)
                        finally:
                            os.close(fd)
                        out[rel] = FileProjection(b"".join(chunks), stat.S_IMODE(st.st_mode))
                    else:
                        out[rel] = FileProjection(b"", -1)  # never equal to a payload file
            finally:
                os.close(dfd)
    finally:
        for dfd, _ in stack:
            os.close(dfd)
    return out


def _write_payload(root_fd: int, ts_name: str, payload: Mapping[str, FileProjection]) -> None:
    ts_fd = os.open(ts_name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root_fd)
    try:
        for path in sorted(payload):
            item = payload[path]
            parent, _, base = path.rpartition("/")
            # Parents made one component at a time inside the new directory (never through a symlink out).
            dir_fd = safepath.mkdirs_in(ts_fd, parent, 0o755, beneath=True) if parent else os.dup(ts_fd)
            try:
                fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, item.mode,
                             dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
            try:
                view = memoryview(item.data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, item.mode)  # the mode asked for, whatever the umask
            finally:
                os.close(fd)
    finally:
        os.close(ts_fd)


def _top_level(paths: Iterable[str]) -> set[str]:
    return {p.split("/", 1)[0] for p in paths}


def write(target_dir: str, payload: Mapping[str, FileProjection]) -> bool:
    """Make the volume at `target_dir` hold exactly `payload`; False when it already did (nothing written)."""
    for path in payload:
        check_path(path)
        if not 0 <= payload[path].mode <= 0o777:
            raise PayloadError(f"invalid mode {payload[path].mode:o} for {path!r}")
    root_fd = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            old_ts = os.readlink(DATA_DIR, dir_fd=root_fd)
        except (FileNotFoundError, OSError):
            old_ts = ""
        if not (old_ts.startswith("..") and "/" not in old_ts):
            old_ts = ""  # not ours: replaced below
        old = _read_tree(root_fd, old_ts) if old_ts else None
        # As the kubelet (shouldWritePayload): the same paths with the same contents is no change. Modes are
        # not compared: ownership management (fsGroup) adds group bits after each write.
        if old is not None and {k: v.data for k, v in old.items()} == {k: v.data for k, v in payload.items()}:
            _link_user_paths(root_fd, _top_level(payload))
            return False
        ts_name = _timestamp_name()
        os.mkdir(ts_name, 0o755, dir_fd=root_fd)
        os.chmod(ts_name, 0o755, dir_fd=root_fd)
        try:
            _write_payload(root_fd, ts_name, payload)
            try:
                os.unlink(_DATA_TMP, dir_fd=root_fd)
            except FileNotFoundError:
                pass
            os.symlink(ts_name, _DATA_TMP, dir_fd=root_fd)
            os.rename(_DATA_TMP, DATA_DIR, src_dir_fd=root_fd, dst_dir_fd=root_fd)  # the atomic swap
        except BaseException:
            shutil.rmtree(os.path.join(target_dir, ts_name), ignore_errors=True)
            raise
        new_top = _top_level(payload)
        _link_user_paths(root_fd, new_top)
        for name in sorted(_top_level(old or {}) - new_top):
            _remove_user_path(root_fd, name)
        if old_ts:
            shutil.rmtree(os.path.join(target_dir, old_ts), ignore_errors=True)
        return True
    finally:
        os.close(root_fd)


def _link_user_paths(root_fd: int, names: set[str]) -> None:
    """createUserVisibleFiles: `name -> ..data/name` for each top-level name that has no entry yet."""
    for name in sorted(names):
        try:
            os.symlink(f"{DATA_DIR}/{name}", name, dir_fd=root_fd)
        except FileExistsError:
            pass


def _remove_user_path(root_fd: int, name: str) -> None:
    """removeUserVisiblePaths: only the writer's own links are removed."""
    try:
        if os.readlink(name, dir_fd=root_fd) == f"{DATA_DIR}/{name}":
            os.unlink(name, dir_fd=root_fd)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EINVAL):
            raise

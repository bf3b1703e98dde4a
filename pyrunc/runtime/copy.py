"""`pyrunc cp`'s local side: naming files on the command line, and unpacking a container's tar safely.

Copying out of a container, the archive is made by the container's own `tar` (run through exec), so
every byte of it is the container's to choose: names with `..` or a leading `/`, a symlink entry followed
by a file "under" it, hard links to anything, device nodes, setuid bits. kubectl was bitten by each
(CVE-2018-1002100, CVE-2019-1002101, CVE-2019-11246). Here:

  - a name is mapped to the destination only if it is the source's own name or below it, and no component
    of what follows is `..` (checked on the text: `lexical_target`);
  - every path is then opened relative to a descriptor of the destination with RESOLVE_BENEATH
    (linux/safepath.py): a symlink already in the destination that points out of it is refused too;
  - symlinks in the archive are not created (kubectl skips them too): a later entry can never go through one;
  - hard links are copied from a file this archive already wrote (resolved the same way), never linked;
  - device nodes and FIFOs are skipped; modes keep only the permission bits (no setuid, setgid, sticky);
    owners are not kept (the files are the caller's).

Each refused entry is one line on stderr and nothing is written for it; the others are unpacked.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from typing import IO, Callable, NamedTuple

from pyrunc.errors import PyruncError
from pyrunc.linux import safepath

SPEC_FORMAT = "filespec must match the canonical format: [[namespace/]pod:]file/path"


class FileSpec(NamedTuple):
    namespace: str | None  # None: the -n flag's
    pod: str | None  # None: a local path
    path: str


def parse_file_spec(word: str) -> FileSpec:
    """kubectl cp's `[[namespace/]pod:]path`: the first `:` separates the pod from its path."""
    head, sep, path = word.partition(":")
    if not sep:
        return FileSpec(None, None, word)
    if not head:
        raise PyruncError(SPEC_FORMAT)
    pieces = head.split("/")
    if len(pieces) == 1:
        return FileSpec(None, pieces[0], path)
    if len(pieces) == 2 and all(pieces):
        return FileSpec(pieces[0], pieces[1], path)
    raise PyruncError(SPEC_FORMAT)


def remote_source(path: str) -> tuple[str, str]:
    """(directory, name) for the container's `tar cf - -C DIR NAME`: archive names then start with NAME."""
    clean = posixpath.normpath("/" + path.lstrip("/"))  # relative paths are relative to / (exec's cwd is not known here)
    if clean == "/":
        return "/", "."
    return posixpath.dirname(clean), posixpath.basename(clean)


def lexical_target(name: str, prefix: str) -> str | None:
    """The path of archive member `name` relative to the destination ("" = the destination itself), or None
    when the name is not `prefix` or below it, or what follows climbs with `..`."""
    parts = [p for p in name.split("/") if p and p != "."]
    want = [p for p in prefix.split("/") if p and p != "."]
    if name.startswith("/") or parts[:len(want)] != want:
        return None
    rest = parts[len(want):]
    if ".." in rest:
        return None
    return "/".join(rest)


class Unpacker:
    """Unpack a tar stream whose members are named `prefix[/...]` into `dest` (see the module docstring)."""

    def __init__(self, dest: str, prefix: str, warn: Callable[[str], None]) -> None:
        self.dest = dest
        self.prefix = prefix
        self.warn = warn
        self.root_fd = -1  # the destination directory, once known
        self.single_file: str | None = None  # the archive is one file: its name in the destination directory
        self.written = 0

    def unpack(self, stream: IO[bytes]) -> None:
        try:
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    self._member(archive, member)
        except tarfile.ReadError as e:
            if self.written or str(e) != "empty file":
                raise PyruncError(f"the container's archive is corrupt: {e}") from None
        finally:
            if self.root_fd >= 0:
                os.close(self.root_fd)

    def _member(self, archive: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = lexical_target(m.name, self.prefix)
        shown = os.path.join(self.dest, rel) if rel is not None else os.path.join(self.dest, m.name)
        if rel is None:
            self.warn(f'warning: file "{shown}" is outside target destination, skipping')
            return
        if m.issym():
            self.warn(f'warning: skipping symlink: "{shown}" -> "{m.linkname}"')
            return
        if not (m.isdir() or m.isreg() or m.islnk()):
            self.warn(f'warning: skipping "{shown}": not a regular file or directory')
            return
        if self.root_fd < 0:
            self._open_root(rel, m)
        if rel == "" and self.single_file is not None:
            rel = self.single_file
        if rel == "" and not m.isdir():
            self.warn(f'warning: skipping "{shown}": not a directory')
            return
        try:
            if m.isdir():
                self._directory(rel, m.mode & 0o777)
            elif m.islnk():
                self._hard_link(rel, m, shown)
            else:
                source = archive.extractfile(m)
                assert source is not None  # a regular member always has a body
                self._file(rel, m.mode & 0o777, source)
        except OSError as e:
            if e.errno == errno.EXDEV:
                self.warn(f'warning: file "{shown}" is outside target destination, skipping')
                return
            raise PyruncError(f"{shown}: {e.strerror}") from None

    def _open_root(self, rel: str, m: tarfile.TarInfo) -> None:
        """The destination directory: `dest` itself, or its parent when the archive is one file."""
        dest = self.dest
        if rel == "" and not m.isdir():
            if os.path.isdir(dest):  # as cp does: a file copied to a directory goes into it
                self.single_file = posixpath.basename(m.name.rstrip("/")) or "file"
            else:
                dest, self.single_file = os.path.split(os.path.abspath(dest))
        try:
            os.makedirs(dest, exist_ok=True)
            self.root_fd = safepath.open_dir(dest)
        except OSError as e:
            raise PyruncError(f"{dest}: {e.strerror}") from None

    def _directory(self, rel: str, mode: int) -> None:
        if rel == "":
            return  # the destination itself: the caller's, its mode is left alone
        try:
            fd = safepath.open_in(self.root_fd, rel, beneath=True)
        except FileNotFoundError:
            fd = safepath.mkdirs_in(self.root_fd, rel, mode or 0o700, beneath=True)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        finally:
            os.close(fd)

    def _file(self, rel: str, mode: int, source: IO[bytes]) -> None:
        parent, _, _ = rel.rpartition("/")
        if parent:
            os.close(safepath.mkdirs_in(self.root_fd, parent, 0o755, beneath=True))
        node = safepath.create_file_in(self.root_fd, rel, 0o600, beneath=True)
        try:
            if not stat.S_ISREG(os.fstat(node).st_mode):
                raise OSError(errno.EISDIR if stat.S_ISDIR(os.fstat(node).st_mode) else errno.EEXIST,
                              "exists and is not a regular file")
            # Reopened through the descriptor: that very inode, no new lookup of the path.
            fd = os.open(safepath.fd_path(node), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        finally:
            os.close(node)
        with open(fd, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
            os.fchmod(out.fileno(), mode)  # permission bits only: setuid/setgid/sticky never kept
        self.written += 1

    def _hard_link(self, rel: str, m: tarfile.TarInfo, shown: str) -> None:
        target = lexical_target(m.linkname, self.prefix)
        if not target:
            self.warn(f'warning: skipping hard link "{shown}" -> "{m.linkname}": outside the copied tree')
            return
        fd = safepath.open_in(self.root_fd, target, os.O_RDONLY | os.O_NONBLOCK, beneath=True)
        with open(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                self.warn(f'warning: skipping hard link "{shown}" -> "{m.linkname}": not a regular file')
                return
            self._file(rel, stat.S_IMODE(os.fstat(source.fileno()).st_mode) & 0o777, source)

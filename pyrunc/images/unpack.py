"""Unpacking one OCI layer into a directory of its own: one overlayfs lower directory.

A layer is untrusted input. Its tar stream is read once, front to back (``tarfile`` in stream
mode, never its ``extract*``), and every entry is made by this module relative to directory
descriptors: each parent is opened with ``O_NOFOLLOW|O_DIRECTORY`` from the layer's root, so a
symlink the layer made earlier is never followed (an entry going through one is refused), and
names with ``..`` or a leading ``/`` never get that far. Nothing is ever written outside ``dest``;
any failure removes ``dest`` whole.

Whiteouts are converted to overlayfs' format as the layer is written, since the layer directory
is used as it is as a lower directory: ``<dir>/.wh.<name>`` becomes the character device 0/0
``<dir>/<name>``, and ``<dir>/.wh..wh..opq`` the xattr ``trusted.overlay.opaque=y`` on ``<dir>``.

The diff_id is the sha256 of the whole uncompressed stream, end-of-archive padding included, as
containerd and docker compute it: what tarfile leaves after the end-of-archive is drained into it.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Protocol, Sequence

from pyrunc.errors import ImageError
from pyrunc.images.media import compression_of
from pyrunc.images.source import PullError
from pyrunc.linux import safepath

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META = ".wh..wh."  # AUFS' own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skipped, as containerd does
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
XATTR_PAX = "SCHILY.xattr."
CHUNK = 1 << 20
TAR_BUFFER = 1 << 16
# Go's archive/tar refuses PAX and GNU long-name headers above 1 MiB (maxSpecialFileSize);
# tarfile would read any size into memory, so the same bound is applied before it does.
MAX_META_HEADER = 1 << 20
_META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
               tarfile.GNUTYPE_LONGLINK)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_INT64 = (1 << 63) - 1
# Header errors tarfile raises but does not export (nor do its type stubs declare them).
_EmptyHeader: type[Exception] = getattr(tarfile, "EmptyHeaderError")
_EOFHeader: type[Exception] = getattr(tarfile, "EOFHeaderError")
_BadHeader: tuple[type[Exception], ...] = (getattr(tarfile, "InvalidHeaderError"), getattr(tarfile, "TruncatedHeaderError"))


@dataclass(frozen=True, slots=True)
class UnpackLimits:
    max_bytes: int = 32 << 30  # uncompressed bytes of one layer (decompression bombs)
    max_entries: int = 1_000_000  # tar members of one layer


@dataclass(frozen=True, slots=True)
class UnpackResult:
    diff_id: str  # "sha256:<hex>" of the whole uncompressed tar stream (to the end, padding included)
    size: int  # uncompressed bytes
    entries: int


class LayerError(PullError):
    """A layer that cannot be unpacked (hostile, corrupt or over a limit); the message names the entry."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid", message)


class _Refused(Exception):
    """Raised inside the unpacker; unpack_layer turns it into a LayerError naming layer and entry."""


class _Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Counted:
    """The decompressed stream as tarfile reads it: hashed (the diff_id) and counted against the
    byte limit, so a bomb is stopped by what it expands to, whatever its members claim."""

    def __init__(self, source: _Reader, compression: str, max_bytes: int) -> None:
        self.source = source
        self.what = compression or "tar"
        self.max_bytes = max_bytes
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int) -> bytes:
        try:
            data = self.source.read(size)
        except Exception as e:  # gzip: BadGzipFile, EOFError, zlib.error; zstd: ZstdError
            raise _Refused(f"corrupt {self.what} stream: {e}") from None
        self.size += len(data)
        if self.size > self.max_bytes:
            raise _Refused(f"more than {self.max_bytes} bytes uncompressed (the limit against decompression bombs)")
        self.hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _Header(tarfile.TarInfo):
    """tarfile's header parsing, made strict where a stream must not be silently cut short."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> _Header:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _META_TYPES and info.size > MAX_META_HEADER:
            raise _Refused(f"a tar metadata header of {info.size} bytes (at most {MAX_META_HEADER})")
        return info

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> _Header:
        try:
            return super().fromtarfile(tar)
        except _EmptyHeader:
            # The data ends on a block boundary without the end-of-archive blocks: Go's archive/tar
            # (containerd, docker) takes that as the end, and so does this (an empty layer included).
            raise _EOFHeader("end of data") from None
        except _BadHeader as e:
            # tarfile would end the archive here without a word past the first member: a corrupt
            # header in the middle of a layer would drop the rest of it silently.
            raise _Refused(f"corrupt tar header at offset {tar.offset}: {e}") from None


def _clean(name: str, what: str = "name") -> list[str]:
    """The components of a tar name, refused when it could leave the layer."""
    if "\x00" in name:
        raise _Refused(f"{what} contains a NUL byte")
    if name.startswith("/"):
        raise _Refused(f"absolute {what} {name!r}: refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _Refused(f"{what} {name!r} has a '..' component: refused")
    return parts


def _climbs(parent: list[str], target: str) -> bool:
    """Whether a relative symlink target climbs above the layer root, read lexically from its directory."""
    depth = len(parent)
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _ns(value: object) -> int:
    """Nanoseconds from a tar time (an int, a float, or a PAX decimal string kept exact)."""
    try:
        ns = int(Decimal(str(value)) * 1_000_000_000)
    except (ArithmeticError, ValueError):
        return 0
    return max(-_INT64, min(_INT64, ns))


def _times(m: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds; the PAX atime when there is one, else the mtime (as containerd)."""
    mtime = _ns(m.pax_headers.get("mtime") or m.mtime)
    return (_ns(m.pax_headers["atime"]) if "atime" in m.pax_headers else mtime), mtime


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _label(blob: str) -> str:
    base = os.path.basename(blob)
    return f"sha256:{base}" if len(base) == 64 and all(c in "0123456789abcdef" for c in base) else base


class _Unpacker:
    def __init__(self, root_fd: int, limits: UnpackLimits) -> None:
        self.root_fd = root_fd
        self.limits = limits
        self.entries = 0
        self.current = ""  # the entry being written, for messages
        self.regular: set[str] = set()  # regular files of this layer: what a hard link may point to
        self.dir_times: dict[str, tuple[int, int]] = {}  # set last: writing inside a directory changes its mtime
        self._cache: tuple[str, int] | None = None  # the last parent directory opened (tar entries come grouped)

    def close(self) -> None:
        self._drop_cache()

    def _drop_cache(self) -> None:
        if self._cache is not None:
            os.close(self._cache[1])
            self._cache = None

    def run(self, stream: _Counted) -> None:
        # extractfile() below only reads a member's data from the stream; nothing of tarfile writes.
        # The stubs want a whole file object; stream mode only ever calls read().
        tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=_Header, bufsize=TAR_BUFFER)  # type: ignore[call-overload]
        while True:
            member = tar.next()
            if member is None:
                break
            tar.members.clear()  # tarfile (before 3.13) keeps every member; a stream needs none back
            self.entries += 1
            self.current = member.name
            if self.entries > self.limits.max_entries:
                raise _Refused(f"more than {self.limits.max_entries} entries (the limit of one layer)")
            self._entry(tar, member)
        self.current = ""
        stream.drain()
        self._set_dir_times()

    # -- directories ------------------------------------------------------------------------

    def _dir(self, parts: list[str], create: bool = True) -> int:
        """A descriptor of the directory `parts` (borrowed: do not close), each component opened
        with O_NOFOLLOW from its parent's descriptor; missing ones made 0755 as tar makes them."""
        key = "/".join(parts)
        if not key:
            return self.root_fd
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                    os.fchmod(child, 0o755)  # not the umask's idea of it
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    is_link = stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode)
                    where = "/".join(parts[: i + 1])
                    if is_link:
                        raise _Refused(f"parent {where!r} is a symlink: refused "
                                       "(nothing is written through a symlink)") from None
                    raise _Refused(f"parent {where!r} is not a directory") from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        self._drop_cache()
        self._cache = (key, fd)
        return fd

    def _clear(self, parent_fd: int, base: str, rel: str) -> None:
        """Remove what `rel` holds, if anything: an entry replaces what the layer put there before
        (a directory with all it holds, as docker and containerd do)."""
        try:
            st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(base, dir_fd=parent_fd)
            self.regular.discard(rel)
            return
        inside = rel + "/"
        if self._cache is not None and (self._cache[0] == rel or self._cache[0].startswith(inside)):
            # The cached directory is inside the tree going away. Only then: the cache is often
            # `parent_fd` itself (the entry before was written beside this one), still needed here.
            self._drop_cache()
        _rmtree_at(parent_fd, base)
        self.regular = {p for p in self.regular if not p.startswith(inside)}
        self.dir_times = {p: t for p, t in self.dir_times.items() if p != rel and not p.startswith(inside)}

    def _set_dir_times(self) -> None:
        for rel, (atime, mtime) in self.dir_times.items():
            parts = rel.split("/") if rel else []
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=self._dir(parts[:-1], create=False)) if parts else os.dup(self.root_fd)
            try:
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)

    # -- entries ----------------------------------------------------------------------------

    def _entry(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = _clean(m.name)
        if any(p.startswith(WHITEOUT_META) for p in parts) and parts[-1] != OPAQUE_MARKER:
            return
        if parts and parts[-1] == OPAQUE_MARKER:
            os.setxattr(self._dir(parts[:-1]), OPAQUE_XATTR, b"y")
            return
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            self._whiteout(parts[:-1], parts[-1][len(WHITEOUT_PREFIX):])
            return
        if not parts:  # "./": the layer's root directory itself
            if not m.isdir():
                raise _Refused("a non-directory entry for the layer's root")
            self._meta(safepath.fd_path(self.root_fd), m)
            self.dir_times[""] = _times(m)
            return
        rel, base = "/".join(parts), parts[-1]
        if m.islnk():
            self._hardlink(parts, m.linkname)
            return
        parent = self._dir(parts[:-1])
        if m.isdir():
            try:
                is_dir = stat.S_ISDIR(os.stat(base, dir_fd=parent, follow_symlinks=False).st_mode)
            except FileNotFoundError:
                is_dir = False
            if not is_dir:
                self._clear(parent, base, rel)
                os.mkdir(base, 0o700, dir_fd=parent)
            self.dir_times[rel] = _times(m)
        elif m.isreg():
            if m.size > self.limits.max_bytes:
                raise _Refused(f"a file of {m.size} bytes (more than the layer's limit of {self.limits.max_bytes})")
            self._write(tar, m, parent, base, rel)
            self.regular.add(rel)
            return  # its metadata is set through the descriptor it was written with
        elif m.issym():
            if "\x00" in m.linkname:
                raise _Refused("symlink target contains a NUL byte")
            if not m.linkname.startswith("/") and _climbs(parts[:-1], m.linkname):
                raise _Refused(f"symlink to {m.linkname!r} leads out of the layer: refused")
            self._clear(parent, base, rel)
            os.symlink(m.linkname, base, dir_fd=parent)
        elif m.ischr() or m.isblk() or m.isfifo():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
            self._clear(parent, base, rel)
            os.mknod(base, kind | 0o600, os.makedev(m.devmajor, m.devminor) if kind != stat.S_IFIFO else 0, dir_fd=parent)
        else:
            raise _Refused(f"unsupported tar entry type {m.type!r}")
        fd = os.open(base, safepath.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            self._meta(safepath.fd_path(fd), m)
            if not m.isdir():
                path = safepath.fd_path(fd)  # the magic link lands on the inode itself, a symlink included
                os.utime(path, ns=_times(m))
        finally:
            os.close(fd)

    def _write(self, tar: tarfile.TarFile, m: tarfile.TarInfo, parent: int, base: str, rel: str) -> None:
        """A regular file, created new (O_EXCL: what was there is removed first), then its owner,
        mode, xattrs and times set on the same descriptor: no second open, no path lookup."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(base, flags, 0o600, dir_fd=parent)
        except FileExistsError:  # rare: a layer naming a path twice; the common case costs no stat
            self._clear(parent, base, rel)
            fd = os.open(base, flags, 0o600, dir_fd=parent)
        try:
            src = tar.extractfile(m)
            while src is not None and (chunk := src.read(CHUNK)):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            self._meta(fd, m)
            os.utime(fd, ns=_times(m))  # last: writing moved the mtime
        finally:
            os.close(fd)

    def _hardlink(self, parts: list[str], linkname: str) -> None:
        target = _clean(linkname, "hard link target")
        rel, trel = "/".join(parts), "/".join(target)
        if trel not in self.regular:
            raise _Refused(f"hard link to {linkname!r}, which is not a regular file of this layer: refused")
        if trel == rel:
            return  # a link to itself: nothing to do (GNU tar does nothing either)
        tparent = self._dir(target[:-1], create=False)
        tfd = os.dup(tparent)  # `_dir` below may close the cached descriptor
        try:
            parent = self._dir(parts[:-1])
            self._clear(parent, parts[-1], rel)
            parent = self._dir(parts[:-1])  # `_clear` may have dropped it
            os.link(target[-1], parts[-1], src_dir_fd=tfd, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(tfd)
        self.regular.add(rel)

    def _whiteout(self, parent_parts: list[str], name: str) -> None:
        if name in ("", ".", ".."):
            raise _Refused(f"whiteout of {name!r}: refused")
        parent = self._dir(parent_parts)
        self._clear(parent, name, "/".join(parent_parts + [name]))
        parent = self._dir(parent_parts)
        os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)  # overlayfs' whiteout: mode 0, device 0/0

    def _meta(self, path: int | str, m: tarfile.TarInfo) -> None:
        """Owner, mode and xattrs of the inode `path` names, in that order: chown clears setuid/setgid
        and security.capability, so both come after it. `path` is a descriptor open for writing,
        or the /proc/self/fd magic link of an O_PATH one (which fchown and fchmod refuse)."""
        os.chown(path, m.uid, m.gid)
        if not m.issym():  # a symlink's mode means nothing on Linux (and cannot be changed)
            os.chmod(path, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if not key.startswith(XATTR_PAX):
                continue
            name = key[len(XATTR_PAX):]
            if name.startswith("trusted.overlay."):
                # overlayfs reads these from its lower directories (opaque, redirect, metacopy):
                # only this module's own whiteout conversion sets them, never the layer's author.
                continue
            # tarfile decodes PAX values as UTF-8 with surrogateescape: this gives the bytes back.
            data = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, name, data)
            except OSError as e:
                # As containerd: a filesystem or namespace that refuses xattrs (user.* on a symlink,
                # tmpfs before 6.6) is not an error. A file capability is one: losing it silently
                # would break the program that needs it.
                if e.errno not in (errno.ENOTSUP, errno.EPERM) or name == "security.capability":
                    raise _Refused(f"cannot set the xattr {name}: {e.strerror}") from None


def _rmtree_at(parent_fd: int, name: str) -> None:
    """Remove the directory `name` of `parent_fd` with all it holds, never following a symlink."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        with os.scandir(fd) as it:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for child, is_dir in children:
            if is_dir:
                _rmtree_at(fd, child)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _decompressor(raw: IO[bytes], compression: str) -> _Reader:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zstd":
        import zstandard

        # Layers may hold several frames (zstd:chunked writes many): read across them.
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


def unpack_layer(blob: str, media_type: str, dest: str, limits: UnpackLimits = UnpackLimits(),
                 expected_diff_id: str | None = None) -> UnpackResult:
    """Unpack the layer `blob` (a verified blob file of `media_type`) into the new directory `dest`.

    On any failure `dest` is removed and LayerError raised (PullError "corrupt" when the stream is
    not the one `expected_diff_id` names); nothing is ever written outside `dest`.
    """
    label = _label(blob)
    try:
        compression = compression_of(media_type)
    except ImageError as e:
        raise LayerError(f"layer {label}: {e}") from None
    try:
        os.mkdir(dest, 0o700)
    except OSError as e:  # never remove what was there before us
        raise LayerError(f"layer {label}: cannot create {dest}: {e.strerror}") from None
    unpacker: _Unpacker | None = None
    try:
        root_fd = os.open(dest, _DIR_FLAGS)
        try:
            os.fchmod(root_fd, 0o755)
            unpacker = _Unpacker(root_fd, limits)
            with open(blob, "rb") as raw:
                stream = _Counted(_decompressor(raw, compression), compression, limits.max_bytes)
                unpacker.run(stream)
        finally:
            if unpacker is not None:
                unpacker.close()
            os.close(root_fd)
        result = UnpackResult("sha256:" + stream.hash.hexdigest(), stream.size, unpacker.entries)
        if expected_diff_id is not None and result.diff_id != expected_diff_id:
            raise PullError("corrupt", f"layer {label}: uncompressed content has digest {result.diff_id}, "
                            f"the image's config says {expected_diff_id} (diff_id mismatch)")
        return result
    except BaseException as e:  # an interrupt too: a half-written layer never stays
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(e, PullError) or not isinstance(e, Exception):
            raise
        entry = f"entry {unpacker.current!r}: " if unpacker is not None and unpacker.current else ""
        if isinstance(e, _Refused):
            detail = str(e)
        elif isinstance(e, OSError):
            detail = f"{e.strerror or e}" + (f" ({e.filename})" if e.filename and not str(e.filename).startswith("/proc/") else "")
        elif isinstance(e, tarfile.TarError):
            detail = f"corrupt tar: {e}"
        else:
            detail = f"{type(e).__name__}: {e}"
        raise LayerError(f"layer {label}: {entry}{detail}") from None


def read_in_layers(layers: Sequence[str], path: str, limit: int = 1 << 20) -> bytes | None:
    """The contents of `path` (at most `limit` bytes) as the overlay of the unpacked `layers`
    (top first) shows it, or None when it is missing or not a regular file.

    Resolved as overlayfs resolves it, one component at a time over the merged view: the topmost
    layer holding a name decides what it is; a whiteout (char 0/0) hides it and everything below;
    a directory merges with the directories below it down to an opaque one or to a layer holding
    something else; a symlink is resolved again from the merged root (absolute) or directory
    (relative), ``..`` never climbing above the root. safepath's RESOLVE_IN_ROOT would resolve
    each layer alone, but a symlink in one layer may lead to a directory of another (``/etc ->
    /private/etc``). Every step is an *at() call with O_NOFOLLOW on a directory descriptor of a
    layer, so the host is never looked at, whatever the symlinks say.
    """
    opened: list[int] = []
    try:
        roots = []
        for layer in layers:
            roots.append(os.open(layer, _DIR_FLAGS & ~os.O_NOFOLLOW))  # trusted host paths
            opened.append(roots[-1])
        return _read_merged(roots, path, limit, opened)
    except OSError:
        return None
    finally:
        for fd in opened:
            os.close(fd)


def _read_merged(roots: list[int], path: str, limit: int, opened: list[int]) -> bytes | None:
    todo = [p for p in path.split("/") if p not in ("", ".")]
    stacks = [roots]  # stacks[-1]: the layers' directories merged into the directory we stand in
    hops = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if len(stacks) > 1:
                stacks.pop()
            continue
        found = _lookup(stacks[-1], part, opened)
        if found is None:
            return None
        dir_fd, st, below = found
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > safepath.MAX_SYMLINKS:
                return None
            target = os.readlink(part, dir_fd=dir_fd)
            if target.startswith("/"):
                del stacks[1:]
            todo = [p for p in target.split("/") if p not in ("", ".")] + todo
        elif stat.S_ISDIR(st.st_mode):
            stacks.append(below)
        elif todo or not stat.S_ISREG(st.st_mode):
            return None
        else:
            fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                data = b""
                while len(data) < limit and (chunk := os.read(fd, limit - len(data))):
                    data += chunk
                return data
            finally:
                os.close(fd)
    return None  # the path names a directory


def _lookup(stack: list[int], name: str, opened: list[int]) -> tuple[int, os.stat_result, list[int]] | None:
    """The topmost entry `name` in the merged directory `stack`: (the layer directory holding it,
    its lstat, and when it is a directory the stack it merges)."""
    top: tuple[int, os.stat_result] | None = None
    below: list[int] = []
    for dir_fd in stack:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if _is_whiteout(st):
            break
        if top is None:
            top = (dir_fd, st)
        if not stat.S_ISDIR(st.st_mode):
            break  # a non-directory hides what is below it, and ends a directory's merge
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        opened.append(fd)
        below.append(fd)
        try:
            if os.getxattr(fd, OPAQUE_XATTR) == b"y":
                break
        except OSError:
            pass
    if top is None:
        return None
    return top[0], top[1], below

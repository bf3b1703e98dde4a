"""inotify(7) through ctypes (the standard library has no binding): watch one directory's entries.

Used by the static pod source (supervisor/manifest_dir.py): its descriptor is one more reader in the
daemon's event loop (no thread). Only "something changed" matters to the caller, which then rescans
the directory; the events are parsed just enough to notice that the watch itself went away.
"""

from __future__ import annotations

import os
import struct

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_IGNORED = 0x00008000  # the watch was removed (its directory deleted, or its filesystem unmounted)
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# A file counts once its writer closed it or it was renamed into place: IN_MODIFY would fire on every
# write() of an editor and show a half-written manifest. IN_CREATE is there for symlinks (`ln -s`
# makes no close-write) and for sub-directories, which the source then reports.
DIR_EVENTS = (IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
              | IN_MOVE_SELF | IN_ONLYDIR)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then len bytes of name)


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        import ctypes  # noqa: PLC0415 - preloaded (supervisor/preload.py STDLIB)

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _libc() -> "object":
    import ctypes  # noqa: PLC0415 - preloaded

    return ctypes.CDLL("libc.so.6", use_errno=True)


def inotify_init() -> int:
    """A non-blocking, close-on-exec inotify descriptor."""
    return _check(_libc().inotify_init1(IN_NONBLOCK | IN_CLOEXEC), "inotify_init1")  # type: ignore[attr-defined]


def add_watch(fd: int, path: str, mask: int = DIR_EVENTS) -> int:
    """Watch ``path`` (a directory) on ``fd``; the watch descriptor."""
    import ctypes  # noqa: PLC0415 - preloaded

    ret = _libc().inotify_add_watch(ctypes.c_int(fd), os.fsencode(path), ctypes.c_uint32(mask))  # type: ignore[attr-defined]
    return _check(ret, "inotify_add_watch", path)


def read_events(fd: int) -> list[tuple[int, int, str]]:
    """Every event queued on ``fd`` now: (watch descriptor, mask, name); empty when none is."""
    events: list[tuple[int, int, str]] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return events
        if not data:
            return events
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset:offset + length].split(b"\0", 1)[0].decode(errors="replace")
            offset += length
            events.append((wd, mask, name))

"""syscalls.readable: poll(2) for the supervisor and its children, whose descriptors pass 1024 past ~100 pods
(select(2) refuses those: the launch of the 101st pod failed with "filedescriptor out of range")."""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource

import pytest

from pyrunc.linux.syscalls import readable


def high_pipe() -> tuple[int, int]:
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 1600:
        pytest.skip("the soft RLIMIT_NOFILE is below 1600 here")
    r, w = os.pipe()
    high_r, high_w = fcntl.fcntl(r, fcntl.F_DUPFD, 1500), fcntl.fcntl(w, fcntl.F_DUPFD, 1500)
    os.close(r)
    os.close(w)
    return high_r, high_w


def test_a_descriptor_above_1024() -> None:
    r, w = high_pipe()
    try:
        assert r > 1024
        assert readable(r, 0.01) == []
        os.write(w, b"x")
        assert readable([r], 1.0) == [r]
        os.read(r, 1)
        os.close(w)
        assert readable(r, 1.0) == [r]  # EOF (POLLHUP) reads as ready, as select says it
        assert os.read(r, 1) == b""
    finally:
        os.close(r)
        with contextlib.suppress(OSError):
            os.close(w)


def test_only_the_ready_ones() -> None:
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    try:
        os.write(w2, b"y")
        assert readable([r1, r2], 1.0) == [r2]
    finally:
        for fd in (r1, w1, r2, w2):
            os.close(fd)

"""The supervisor's event loop (supervisor/loop.py) with a fake clock: timers, cancellation, readers,
child exits, and one failing callback never stopping the others. No root needed."""

from __future__ import annotations

import os
import signal
from typing import Iterator

import pytest

from pyrunc.clock import FakeClock
from pyrunc.supervisor.loop import Loop


@pytest.fixture
def loop() -> Iterator[tuple[Loop, FakeClock]]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT)}
    clock = FakeClock()
    lp = Loop(clock)
    try:
        yield lp, clock
    finally:
        signal.set_wakeup_fd(-1)
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_timers_fire_in_order_when_their_time_comes(loop: tuple[Loop, FakeClock]) -> None:
    lp, clock = loop
    fired: list[str] = []
    lp.call_later(10, lambda: fired.append("b"))
    lp.call_later(5, lambda: fired.append("a"))
    lp.call_later(10, lambda: fired.append("c"))  # same time: in the order they were asked for
    lp.run_once(0)
    assert fired == []
    clock.advance(5)
    lp.run_once(0)
    assert fired == ["a"]
    clock.advance(5)
    lp.run_once(0)
    assert fired == ["a", "b", "c"]


def test_a_cancelled_timer_never_fires(loop: tuple[Loop, FakeClock]) -> None:
    lp, clock = loop
    fired: list[int] = []
    handle = lp.call_later(1, lambda: fired.append(1))
    lp.call_later(2, lambda: fired.append(2))
    lp.cancel(handle)
    lp.cancel(None)  # no timer: nothing to do
    clock.advance(3)
    lp.run_once(0)
    assert fired == [2]


def test_a_failing_callback_does_not_stop_the_others(loop: tuple[Loop, FakeClock]) -> None:
    lp, clock = loop
    fired: list[str] = []

    def boom() -> None:
        raise RuntimeError("one pod's trouble")

    lp.call_later(1, boom)
    lp.call_later(1, lambda: fired.append("after"))
    clock.advance(1)
    lp.run_once(0)
    assert fired == ["after"]


def test_a_reader_is_called_while_registered_only(loop: tuple[Loop, FakeClock]) -> None:
    lp, _ = loop
    r, w = os.pipe()
    got: list[bytes] = []
    try:
        lp.add_reader(r, lambda: got.append(os.read(r, 100)))
        os.write(w, b"x")
        lp.run_once(0)
        assert got == [b"x"]
        lp.remove_reader(r)
        lp.remove_reader(r)  # twice: harmless
        os.write(w, b"y")
        lp.run_once(0)
        assert got == [b"x"]
    finally:
        os.close(r)
        os.close(w)


def test_a_child_exit_reaches_its_callback_with_the_wait_status(loop: tuple[Loop, FakeClock]) -> None:
    lp, _ = loop
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    exits: list[tuple[int, int | None]] = []
    lp.watch_child(pid, lambda p, status: exits.append((p, status)))
    while not exits:
        lp.run_once(1.0)  # SIGCHLD wakes the loop; the reap finds the status
    assert exits[0][0] == pid and exits[0][1] is not None and os.waitstatus_to_exitcode(exits[0][1]) == 7


def test_a_foreign_process_end_is_seen_without_its_status(loop: tuple[Loop, FakeClock]) -> None:
    lp, _ = loop
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child stands in for a process we did not start: watched by pidfd, reaped by us here
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    ended: list[tuple[int, int | None]] = []
    lp.watch_foreign(pid, lambda p, status: ended.append((p, status)))
    os.close(w)  # let it go
    while not ended:
        lp.run_once(1.0)
    assert ended == [(pid, None)]
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # the loop's reap took it

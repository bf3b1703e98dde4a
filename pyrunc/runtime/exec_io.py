"""The caller's side of `pyrunc exec`: relaying its stdio to a process in a container.

Nothing of the caller's own files goes into the container: the command's stdin/stdout/stderr are pipes made
here (or the slave of a pseudo-terminal allocated inside the container, for `-it`), and this process copies
bytes between them and its own descriptors 0, 1 and 2. A descriptor handed over as is would be a door: a
process in the container reopens /proc/self/fd/N and gets the inode itself, outside its root (a host file
on stdout reopened for reading or truncating, a directory as the host's tree), and a terminal takes TIOCSTI,
which types into the admin's shell.

The relay is one select() loop over a few `Pump`s and the joiner's pidfd. It ends when the joiner exits
(its exit status is the command's): what the command wrote before exiting is still in the pipes and is
drained; a background process it left behind that keeps the pipes open does not hold the caller.

Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to the caller (e.g. Ctrl-C at a terminal without -t) are
forwarded to the joiner, which forwards them to the command, the caller keeps relaying until the command
is gone, as a shell does. With -t the caller's terminal is in raw mode (Ctrl-C is a byte for the pty inside
the container, whose line discipline signals the command), SIGWINCH copies the window size to the pty,
SIGTSTP restores the terminal before stopping and raw mode comes back on SIGCONT, and SIGHUP or SIGTERM end
the caller at once (the master closes: the pty inside hangs up and its session gets SIGHUP, as when an ssh
connection drops); the terminal's modes are restored on every way out but SIGKILL.
"""

from __future__ import annotations

import errno
import os
import select
import signal
from typing import Callable

CHUNK = 65536
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Pump:
    """Bytes from `src` to `dst` (an fd, or a bytearray that collects them).

    `outgoing` pumps read a descriptor of ours (a pipe or the pty master) and are drained once the joiner
    exits; the stdin pump reads the caller's fd 0, which is never made non-blocking (its file description
    is shared with the caller's shell) and is only read when select() says so.
    """

    def __init__(self, src: int, dst: int | bytearray, *, outgoing: bool, close_dst_at_eof: bool = False) -> None:
        self.src = src
        self.dst = dst
        self.outgoing = outgoing
        self.close_dst_at_eof = close_dst_at_eof
        self.buf = b""
        self.eof = False
        self.broken = False  # dst refused more (EPIPE, EIO): what is read from now on is dropped
        self.src_closed = self.dst_closed = False

    def wants_read(self) -> bool:
        return not self.eof and not self.buf

    def read(self) -> bool:
        """One read; False when nothing was there (EAGAIN) or at EOF."""
        try:
            data = os.read(self.src, CHUNK)
        except BlockingIOError:
            return False
        except OSError as e:  # EIO: the pty's slave side is closed for good; EBADF: the caller has no fd 0
            if e.errno not in (errno.EIO, errno.EBADF):
                raise
            data = b""
        if not data:
            self.eof = True
            if self.close_dst_at_eof:
                self.close()  # the command's stdin pipe: it reads EOF
            return False
        if isinstance(self.dst, bytearray):
            self.dst += data
        elif not self.broken:
            self.buf = data
        return True

    def write(self) -> None:
        assert isinstance(self.dst, int)
        try:
            n = os.write(self.dst, self.buf)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.EIO, errno.EBADF):
                raise
            self.broken, self.buf = True, b""
            if not self.eof:
                # outgoing: close our read end of the command's pipe, its next write gets EPIPE (`cmd | head`);
                # stdin: the command closed its end, stop reading ours.
                self.close()
                self.eof = True
            return
        self.buf = self.buf[n:]

    def flush(self) -> None:
        while self.buf and not self.broken:
            assert isinstance(self.dst, int)  # only a file descriptor keeps unwritten bytes (write())
            select.select([], [self.dst], [])
            self.write()

    def close(self) -> None:
        """Close what is ours and still open: the source of an outgoing pump, the command's stdin pipe."""
        if self.outgoing and not self.src_closed:
            os.close(self.src)
            self.src_closed = True
        if self.close_dst_at_eof and not self.dst_closed:
            os.close(self.dst)  # type: ignore[arg-type]
            self.dst_closed = True

    def drain(self) -> None:
        """Everything readable now, without waiting (the joiner is gone)."""
        if self.eof:
            return
        os.set_blocking(self.src, False)
        while self.read():
            self.flush()


def relay(pumps: list[Pump], pidfd: int, hangup_fd: int | None = None) -> None:
    """Run the pumps until the process behind `pidfd` exits, then drain what the outgoing ones still hold.
    `hangup_fd` readable (its peer closed it): Hangup(SIGHUP) at once, as a terminal that went away."""
    while True:
        rlist = [pidfd] + [p.src for p in pumps if p.wants_read()] + ([] if hangup_fd is None else [hangup_fd])
        wlist = [p.dst for p in pumps if p.buf and isinstance(p.dst, int)]
        readable, writable, _ = select.select(rlist, wlist, [])
        if hangup_fd is not None and hangup_fd in readable:
            raise Hangup(signal.SIGHUP)
        for p in pumps:
            if p.buf and p.dst in writable:
                p.write()
            if p.wants_read() and p.src in readable:
                p.read()
        if pidfd in readable:
            break
    for p in pumps:
        if p.outgoing:
            p.flush()
            p.drain()


def _ignoring_arguments(action: Callable[[], None]) -> Callable[[int, object], None]:
    """A signal handler (signal number, frame) that runs `action`."""
    return lambda _signum, _frame: action()


class Forwarder:
    """Signal handlers that pass FORWARDED signals to `target` once it is set; restores the old ones at exit."""

    def __init__(self) -> None:
        self.target: int | None = None
        self.saved: dict[int, object] = {}

    def __enter__(self) -> "Forwarder":
        for sig in FORWARDED:
            self._install(sig, self._forward)
        return self

    def add(self, handlers: dict[int, Callable[[], None]]) -> None:
        for sig, action in handlers.items():
            self._install(sig, _ignoring_arguments(action))

    def _install(self, sig: int, handler: Callable[[int, object], None]) -> None:
        old = signal.signal(sig, handler)
        self.saved.setdefault(sig, old)

    def _forward(self, sig: int, _frame: object) -> None:
        if self.target:
            try:
                os.kill(self.target, sig)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)  # type: ignore[arg-type]


class RawTerminal:
    """The caller's terminal (fd 0) in raw mode while relaying; restored on exit, stop and every signal."""

    def __init__(self, fd: int, master: int) -> None:
        import termios
        import tty

        self.termios, self.tty = termios, tty
        self.fd = fd
        self.master = master
        self.saved = termios.tcgetattr(fd)

    def enter(self) -> None:
        self.tty.setraw(self.fd, self.termios.TCSANOW)  # TCSANOW: keep what was typed meanwhile

    def restore(self) -> None:
        try:
            self.termios.tcsetattr(self.fd, self.termios.TCSADRAIN, self.saved)
        except self.termios.error:
            pass

    def on_winch(self) -> None:
        from pyrunc.linux import terminal

        terminal.copy_winsize(self.fd, self.master)

    def on_tstp(self) -> None:
        # Stop as a job should, but with the terminal as the shell expects it; raw again when continued.
        self.restore()
        os.kill(os.getpid(), signal.SIGSTOP)
        self.enter()
        self.on_winch()

    def on_hangup(self, sig: int) -> None:
        # The terminal went away (SIGHUP) or we are told to go (SIGTERM): leave as a terminal program does.
        # The caller closes the master on its way out, which hangs up the pty inside the container: the kernel
        # sends SIGHUP to the command's session there, as when an ssh connection drops.
        raise Hangup(sig)

    def handlers(self) -> dict[int, Callable[[], None]]:
        return {signal.SIGWINCH: self.on_winch, signal.SIGTSTP: self.on_tstp,
                signal.SIGHUP: lambda: self.on_hangup(signal.SIGHUP),
                signal.SIGTERM: lambda: self.on_hangup(signal.SIGTERM)}


class Hangup(Exception):
    """Raised by the -it relay's SIGHUP/SIGTERM handler: the caller leaves, its terminal restored."""

    def __init__(self, sig: int) -> None:
        super().__init__(f"signal {sig}")
        self.sig = sig


def is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False

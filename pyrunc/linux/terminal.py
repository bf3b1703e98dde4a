"""Pseudo-terminals for `exec -t`: allocated inside the container, from its own devpts.

The container's /dev/pts is a devpts instance of its own (runtime/rootfs.py mounts it with `newinstance`,
and /dev/ptmx is a symlink to pts/ptmx). `allocate_pty` runs in a process that has already joined the
container's mount namespace and chrooted into its root, so /dev/ptmx resolves there and nowhere else; the
container controls that path, so what it opens is checked to be the ptmx device before it is used, and the
slave is opened from the master (TIOCGPTPEER), not by its path, so no swapped /dev/pts/N can stand in.

The caller's own terminal never goes into the container: the caller puts it in raw mode and relays bytes
between it and the master (runtime/exec_io.py).
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
import termios

# linux/tty ioctls (asm-generic encoding: x86, arm, arm64, riscv, s390).
TIOCGPTN = 0x80045430  # _IOR('T', 0x30, unsigned int): the pty number
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int): (un)lock the slave
TIOCGPTPEER = 0x5441  # _IO('T', 0x41): open the slave from the master (Linux 4.13)
TIOCSCTTY = termios.TIOCSCTTY
TIOCGWINSZ = termios.TIOCGWINSZ
TIOCSWINSZ = termios.TIOCSWINSZ
PTMX_RDEV = os.makedev(5, 2)
WINSIZE = "HHHH"  # struct winsize: rows, cols, xpixel, ypixel


class PtyError(Exception):
    """The container's /dev/ptmx or /dev/pts/N is not what it must be (the container controls those paths)."""


def allocate_pty(owner_uid: int | None = None) -> tuple[int, int, int]:
    """(master, slave, N) from the devpts of the current root; both descriptors close-on-exec, no ctty."""
    flags = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC
    master = os.open("/dev/ptmx", flags | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO put there cannot hang us
    try:
        st = os.fstat(master)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != PTMX_RDEV:
            raise PtyError("/dev/ptmx in the container is not the pseudo-terminal multiplexer")
        os.set_blocking(master, True)
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        try:
            slave = fcntl.ioctl(master, TIOCGPTPEER, flags)
        except OSError:  # kernel before 4.13: by name, and check it is the slave of this master
            slave = os.open(f"/dev/pts/{number}", flags | os.O_NONBLOCK)
            peer = os.fstat(slave)
            if not stat.S_ISCHR(peer.st_mode) or os.minor(peer.st_rdev) != number % 256:
                os.close(slave)
                raise PtyError(f"/dev/pts/{number} in the container is not a pseudo-terminal") from None
            os.set_blocking(slave, True)
        if owner_uid is not None:
            os.fchown(slave, owner_uid, -1)  # as a login does: the user owns its terminal; the group stays tty
        return master, slave, number
    except BaseException:
        os.close(master)
        raise


def make_controlling(slave: int) -> None:
    """In a new session (setsid done): `slave` becomes the controlling terminal and stdin/out/err."""
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


def get_winsize(fd: int) -> bytes | None:
    try:
        return fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * struct.calcsize(WINSIZE))
    except OSError:
        return None


def set_winsize(fd: int, winsize: bytes | None) -> None:
    if winsize is not None:
        try:
            fcntl.ioctl(fd, TIOCSWINSZ, winsize)
        except OSError:
            pass


def copy_winsize(src: int, dst: int) -> None:
    set_winsize(dst, get_winsize(src))

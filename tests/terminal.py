"""An outer pseudo-terminal for tests of `exec -it` and `attach -it`: the CLI runs on its slave, as on an
admin's terminal, and the test types into its master and reads what the CLI writes back."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from tests.integration.helpers import PYRUNC, REPO, WAIT


class Terminal:
    def __init__(self, rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.modes = termios.tcgetattr(self.slave)
        self.seen = b""

    def run(self, root: str | Path, verb: str, *args: str, stdin: bool = True) -> subprocess.Popen[bytes]:
        """`pyrunc --root ROOT VERB ARGS...` with its stdio on the terminal (stdin /dev/null if not `stdin`),
        in a session of its own."""
        return subprocess.Popen([*PYRUNC, "--root", str(root), verb, *args], cwd=str(REPO),
                                stdin=self.slave if stdin else subprocess.DEVNULL, stdout=self.slave,
                                stderr=self.slave, start_new_session=True)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, text: str) -> str:
        """Read until `text` shows up; everything read so far."""
        deadline = time.monotonic() + WAIT
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{text!r} never appeared; got {self.seen!r}")
            if select.select([self.master], [], [], left)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # EIO: nothing holds the slave any more
                    pytest.fail(f"{text!r} never appeared; the terminal closed after {self.seen!r}")
        return self.seen.decode(errors="replace")

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)

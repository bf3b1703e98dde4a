"""Transfer progress on a terminal: one tqdm bar per blob, in bytes; nothing when stderr is not a TTY.

tqdm is imported only when a bar is shown (the CLI's start-up time matters).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from pyrunc.images.media import Descriptor
from pyrunc.images.source import NoProgress, Progress


class TqdmProgress:
    """Bars on stderr, one per blob, kept after they finish (like `docker pull`'s lines)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._bars: dict[str, Any] = {}
        self._lock = threading.Lock()  # layers are fetched from several threads at once

    def start(self, desc: Descriptor, already: int) -> None:
        from tqdm import tqdm

        with self._lock:
            old = self._bars.pop(desc.digest, None)
            if old is not None:
                old.close()
            self._bars[desc.digest] = tqdm(total=desc.size, initial=already, desc=desc.hex[:12], unit="B",
                                           unit_scale=True, unit_divisor=1024, file=self._stream, leave=True,
                                           dynamic_ncols=True)

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        with self._lock:
            bar = self._bars.get(desc.digest)
            if bar is not None:
                bar.update(nbytes)

    def done(self, desc: Descriptor) -> None:
        with self._lock:
            bar = self._bars.pop(desc.digest, None)
            if bar is not None:
                bar.close()


def make_progress(quiet: bool) -> Progress:
    """Bars when stderr is a terminal and not `quiet`; otherwise nothing is shown."""
    if quiet or not sys.stderr.isatty():
        return NoProgress()
    return TqdmProgress()

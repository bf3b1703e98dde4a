"""Small, atomic JSON state files: write a temporary file, rename it over the old one.

Every state file is 0600 root: pod.json and config.json hold env values (secrets, often), and an
unprivileged local user must not read pod state (the kubelet keeps its pod directories 0750).

The rename makes every update all-or-nothing for readers and against a crash of the writer. There is
no fsync: it would only guard against power loss, and the state lives under /run, which does not
survive a reboot anyway (nor do the processes it describes). Skipping it saves ~2 ms per write,
and a pod start writes a dozen times.
"""

from __future__ import annotations

import os

from pyrunc.store import leanjson  # json's own C scanner and encoder, without json's imports (re, enum)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (docs/performance.md: no typing on `run`)
if TYPE_CHECKING:
    from typing import Any


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o750


def write_text(path: str, text: str, mode: int = PRIVATE_FILE) -> None:
    """Atomically replace ``path`` with ``text``; the file has exactly ``mode`` (0600 by default)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)  # a leftover temp file of a crashed writer may have had another mode
            with open(fd, "w", encoding="utf-8", closefd=False) as f:
                f.write(text)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)  # a full disk must not leave half a file behind
        except FileNotFoundError:  # not contextlib.suppress: contextlib is one import more for pyrunc-oci
            pass
        raise


def write_json(path: str, data: Any) -> None:
    write_text(path, leanjson.dumps(data, separators=(",", ":"), sort_keys=True))


def private_dir(path: str) -> None:
    """Create ``path`` (and missing parents) as a directory of the runtime's own: 0750 root, as the
    kubelet's pod directories; an existing one is narrowed to that too."""
    os.makedirs(path, PRIVATE_DIR, exist_ok=True)
    if os.stat(path).st_mode & 0o7027:
        os.chmod(path, os.stat(path).st_mode & PRIVATE_DIR)


def read_json(path: str, default: Any = None) -> Any:
    try:
        # Bytes to json.loads (which decodes UTF-8 itself): no text layer for every small fact file read.
        with open(path, "rb") as f:
            return leanjson.loads(f.read())
    except FileNotFoundError:
        return default
    except ValueError:
        # A torn write cannot happen (rename is atomic); a corrupt file is treated as missing.
        return default

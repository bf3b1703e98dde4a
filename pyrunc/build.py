"""The build identity the CLI and the supervisor compare: the version and a hash of the package's files.

Why a hash of the files and not only the version: a `git pull`, an editable install or a
reinstalled wheel change the code without changing ``__version__``, and a supervisor that keeps
running the old code while the files under it changed (or went) fails in odd ways. Two
installs with the same files are the same build, wherever they live.

Computed on demand, once per process (a few milliseconds for the whole package): only the mutating verbs
(which talk to the supervisor) and the supervisor at its start pay it; ``pyrunc get`` never
imports this module. A hash written at install time would go stale under an editable install.
"""

from __future__ import annotations

import hashlib
import os

import pyrunc

_HASHED = (".py", ".json")  # code and the data files the runtime reads (the seccomp profile)
_cached: str | None = None


def package_dir() -> str:
    return os.path.dirname(os.path.abspath(pyrunc.__file__))


def compute(directory: str) -> str:
    """``<version>+<sha256 prefix>`` over every code and data file under ``directory``, by relative path."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if not name.endswith(_HASHED):
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                data = f.read()
            digest.update(os.path.relpath(path, directory).encode() + b"\0" + str(len(data)).encode() + b"\0")
            digest.update(data)
    return f"{pyrunc.__version__}+{digest.hexdigest()[:16]}"


def build_id() -> str:
    """This process's build, computed at the first call (the supervisor calls it before serving)."""
    global _cached
    if _cached is None:
        _cached = compute(package_dir())
    return _cached

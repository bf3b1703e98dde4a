"""The build identity the CLI and the supervisor compare: the version and a hash of the package's files.

Why a hash of the files and not only the version: a `git pull`, an editable install or a
reinstalled wheel change the code without changing ``__version__``, and a supervisor that keeps
running the old code while the files under it changed (or went) fails in odd ways. Two
installs with the same files are the same build, wherever they live.

Computed on demand, once per process: only the mutating verbs (which talk to the supervisor) and the
supervisor at its start pay it; ``pyrunc get`` never imports this module. A hash written at install
time would go stale under an editable install.

Hashing the files costs ~8 ms (1.5 MB read and hashed, plus ~4 ms importing hashlib) on every `apply`, so
the hash is kept in ``<package>/__pycache__/build-id`` beside the files' stat signature (relative path,
size, mtime and ctime in ns, inode, of every hashed file): a signature equal to the stored one gives the stored
hash without reading a file (one stat per file, ~1 ms). Any change under the package (an edit, a `git
pull`, a reinstall, a `cp -p` that keeps the mtime: each writes the file, and a write or a `utime` always
sets its ctime, which nothing can set back) changes the signature, and the hash is computed from the
contents again. The id stays a hash of the contents: the cache only says which contents it was computed
from. A file changed less than RACY_SECONDS ago is not trusted to the cache (a second write within the
same timestamp tick and of the same size would go unseen, git's "racy clean" problem): the hash is
computed and not stored until the tree has been quiet that long.
"""

from __future__ import annotations

import os
import sys
import time

import pyrunc

_HASHED = (".py", ".json")  # code and the data files the runtime reads (the seccomp profile)
CACHE_NAME = "build-id"  # under <package>/__pycache__, which the hash leaves out (as Python's own .pyc files)
RACY_SECONDS = 2.0  # files changed more recently than this are hashed, and the result not stored (see the docstring)
_cached: str | None = None


def package_dir() -> str:
    return os.path.dirname(os.path.abspath(pyrunc.__file__))


def _hashed_files(directory: str) -> list[str]:
    """Every code and data file under ``directory``, as paths relative to it, in the order the hash reads them."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel = os.path.relpath(dirpath, directory)
        prefix = "" if rel == "." else rel + os.sep
        found += [prefix + name for name in sorted(filenames) if name.endswith(_HASHED)]
    return found


def compute(directory: str) -> str:
    """``<version>+<sha256 prefix>`` over every code and data file under ``directory``, by relative path."""
    return _hash(directory, _hashed_files(directory))


def _hash(directory: str, paths: list[str]) -> str:
    import hashlib  # ~4 ms: only when the cache does not answer

    digest = hashlib.sha256()
    for rel in paths:
        with open(os.path.join(directory, rel), "rb") as f:
            data = f.read()
        digest.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0")
        digest.update(data)
    return f"{pyrunc.__version__}+{digest.hexdigest()[:16]}"


def signature(directory: str, paths: list[str]) -> tuple[str, float]:
    """The stat signature of ``paths`` (relative to ``directory``; one line per file) and the newest ctime among them."""
    lines = []
    newest = 0.0
    top = directory + os.sep
    for rel in paths:
        st = os.stat(top + rel)
        newest = max(newest, st.st_ctime)
        lines.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}")
    return "\n".join(lines), newest


def cached_compute(directory: str) -> str:
    """compute(directory), through the cache file when the files' signature matches it."""
    paths = _hashed_files(directory)
    sig, newest = signature(directory, paths)
    cache = os.path.join(directory, "__pycache__", CACHE_NAME)
    try:
        with open(cache, encoding="utf-8") as f:
            stored_id, _, stored_sig = f.read().partition("\n")
        if stored_sig == sig and stored_id.startswith(f"{pyrunc.__version__}+"):
            return stored_id
    except (OSError, UnicodeDecodeError):
        pass  # none yet, or unreadable: computed below
    build = _hash(directory, paths)
    # The signature is re-read after the hash: a file written while it was read must not be stored under it.
    if time.time() - newest > RACY_SECONDS and signature(directory, paths)[0] == sig and not sys.dont_write_bytecode:
        _store(cache, f"{build}\n{sig}")
    return build


def _store(path: str, text: str) -> None:
    """Written atomically (a reader sees the old or the new cache, never half of one); any failure is ignored:
    a read-only install hashes every time, as before the cache."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def build_id() -> str:
    """This process's build, computed at the first call (the supervisor calls it before serving)."""
    global _cached
    if _cached is None:
        _cached = cached_compute(package_dir())
    return _cached

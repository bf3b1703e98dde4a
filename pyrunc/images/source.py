"""Where an image comes from: a registry or an archive, behind one small interface.

The store (images/store.py) ingests from an ImageSource: it asks for the resolved manifest, then
for each blob it does not already hold. A registry (images/registry.py) and the archive readers
(images/archive.py: docker-archive, OCI archive, OCI layout, plain rootfs tarball) implement it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Protocol

from pyrunc.errors import ImageError
from pyrunc.images.media import Descriptor, Manifest, Platform


class PullError(ImageError):
    """A pull or import failed. `kind` tells the policy what happened:

    unreachable  the registry could not be reached (DNS, connection refused, TLS, timeout)
    unauthorized the registry refused our credentials or wants some (401/403)
    not_found    no such repository, tag or blob (404)
    corrupt      a blob's size or digest is not what its descriptor says; nothing was stored
    invalid      a malformed manifest, config, archive or layer (hostile or broken input)
    """

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a reference points to, for one platform.

    `target` is the document the name points to (an index or a manifest) with its bytes; when it
    is an index, `manifest` is the entry chosen for the platform. The store keeps both documents,
    so the repo digest (`name@target.digest`) stays what the registry calls the image.
    """

    target: Descriptor
    target_bytes: bytes
    manifest: Descriptor
    manifest_bytes: bytes
    parsed: Manifest


class Progress(Protocol):
    """Told how far each blob's transfer is (a TTY display, or nothing)."""

    def start(self, desc: Descriptor, already: int) -> None: ...

    def advance(self, desc: Descriptor, nbytes: int) -> None: ...

    def done(self, desc: Descriptor) -> None: ...


class NoProgress:
    def start(self, desc: Descriptor, already: int) -> None:
        pass

    def advance(self, desc: Descriptor, nbytes: int) -> None:
        pass

    def done(self, desc: Descriptor) -> None:
        pass


class ImageSource(Protocol):
    """A place images are read from.

    `description` names it for messages ("docker://127.0.0.1:5000/app:v1", "docker-archive:/tmp/x.tar").
    `resolve` reads the name's document and chooses the platform's manifest (PullError otherwise).
    `fetch_blob` writes the blob `desc` to the file `dest`: when `dest` already holds a prefix of it
    (an interrupted transfer) a source that can resume continues from there, else it starts over. The
    size and digest are verified while the bytes stream; on a mismatch `dest` is removed and
    PullError("corrupt") raised. Safe to call from several threads at once for different blobs.
    """

    description: str

    def resolve(self, platform: Platform) -> Resolved: ...

    def fetch_blob(self, desc: Descriptor, dest: str, progress: Progress) -> None: ...

    def close(self) -> None: ...


class BlobWriter:
    """Writes one blob to `dest`, hashing as it goes, and checks size and digest at the end.

    `resume=True` keeps what `dest` already holds (it is hashed first) so a transfer continues where
    an interrupted one stopped; `offset` is then where the source must continue from. Every failure
    removes `dest`: a blob file that exists under its final name is always whole and verified (the
    store renames it there only after `finish`).
    """

    def __init__(self, desc: Descriptor, dest: str, resume: bool = False) -> None:
        self.desc = desc
        self.dest = dest
        self._hash = hashlib.sha256()
        self.offset = 0
        if resume and os.path.exists(dest):
            with open(dest, "rb") as f:
                while chunk := f.read(1 << 20):
                    self._hash.update(chunk)
                    self.offset += len(chunk)
            if self.offset > desc.size:  # not a prefix of this blob
                self._hash = hashlib.sha256()
                self.offset = 0
        self._file = open(dest, "ab" if self.offset else "wb")  # noqa: SIM115 (closed by finish/abort)
        self.written = self.offset

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.written > self.desc.size:
            self.abort()
            raise PullError("corrupt", f"blob {self.desc.digest}: more than the {self.desc.size} bytes its descriptor says")
        self._hash.update(data)
        self._file.write(data)

    def finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        got = "sha256:" + self._hash.hexdigest()
        if self.written != self.desc.size or got != self.desc.digest:
            os.unlink(self.dest)
            raise PullError("corrupt", f"blob {self.desc.digest}: got {self.written} bytes with digest {got}, "
                            f"expected {self.desc.size} bytes (digest mismatch: nothing was stored)")

    def abort(self, keep: bool = False) -> None:
        """Close; remove the file unless `keep` (a partial transfer worth resuming)."""
        self._file.close()
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.dest)

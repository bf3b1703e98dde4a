"""Where a pyrunc pull's time goes: one pull, split into phases (run by bench/pull.py).

    PYRUNC_IMAGES=EMPTY_DIR .venv/bin/python bench/pull_probe.py EMPTY_DIR 127.0.0.1:PORT/bench/pull:v1
    .venv/bin/python bench/pull_probe.py --fetch-only EMPTY_DIR 127.0.0.1:PORT/bench/pull:v1

Runs pyrunc's own pull (pyrunc.images.pull.pull_image, what `pyrunc image pull` runs) with timing
wrappers around its phases; nothing of pyrunc is changed. Layers are fetched and unpacked on several
threads at once, so a phase's wall time is the union of its intervals (the time at least one thread
was in it), and its thread time the sum. Prints one JSON object (seconds) on the last line:

- resolve: the manifest GET (and the /v2/ ping before it);
- download+verify: every blob fetch (HTTP read, sha256 and size check, write, fsync);
  of which `blob fsync` is BlobWriter.finish (flush, fsync, digest comparison);
- unpack: every layer unpacked (read the blob, gunzip, diff_id sha256, write files, metadata);
  of which `decompress+diff_id` is the time in the decompressed stream's read() (gunzip + sha256);
- index write: index.json written (fsync'd);
- total: the whole pull_image call; `python start-up and imports` is measured apart, as the CLI pays it.
`--fetch-only` does what `skopeo copy docker://... dir:` does and nothing more: resolve, then every
blob fetched into the store's blobs/ (verified, fsync'd) on the store's 4 threads, no unpacking;
it prints nothing (its time is the process's, measured by the caller).
Reference costs on the same bytes, in memory, one thread: sha256 of the compressed blobs, gunzip of
the layers, sha256 of the uncompressed layers.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

T0 = time.perf_counter()

from pyrunc.config import load_config  # noqa: E402 (imports timed from T0)
from pyrunc.images import pull, registry, source, store, unpack  # noqa: E402

IMPORTS = time.perf_counter() - T0
_lock = threading.Lock()
intervals: dict[str, list[tuple[float, float]]] = {}


def timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            with _lock:
                intervals.setdefault(phase, []).append((start, end))
    return wrapper


def union(spans: list[tuple[float, float]]) -> float:
    total, last = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= last:
            continue
        total += end - max(start, last)
        last = end
    return total


def fetch_only(images_dir: str, image: str) -> None:
    """The download half of ImageStore.ingest, with the same calls: documents, config, layers."""
    from concurrent.futures import ThreadPoolExecutor

    from pyrunc.images.media import host_platform
    from pyrunc.images.reference import parse_ref
    from pyrunc.images.source import NoProgress

    st = store.ImageStore(images_dir)
    st._ensure_dirs()
    src = registry.RegistrySource(parse_ref(image))
    try:
        resolved = src.resolve(host_platform())
        st._put_document(resolved.manifest.digest, resolved.manifest_bytes)
        descs = [resolved.parsed.config, *resolved.parsed.layers]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(st._fetch, src, d, NoProgress()) for d in descs]:
                f.result()
    finally:
        src.close()


def main() -> None:
    if sys.argv[1] == "--fetch-only":
        fetch_only(sys.argv[2], sys.argv[3])
        return
    images_dir, image = sys.argv[1], sys.argv[2]
    registry.RegistrySource.resolve = timed("resolve", registry.RegistrySource.resolve)  # type: ignore[method-assign]
    registry.RegistrySource.fetch_blob = timed("download+verify", registry.RegistrySource.fetch_blob)  # type: ignore[method-assign]
    source.BlobWriter.finish = timed("blob fsync", source.BlobWriter.finish)  # type: ignore[method-assign]
    unpack.unpack_layer = timed("unpack", unpack.unpack_layer)
    unpack._Counted.read = timed("decompress+diff_id", unpack._Counted.read)  # type: ignore[method-assign]
    store.ImageStore._write_index = timed("index write", store.ImageStore._write_index)  # type: ignore[method-assign]
    cfg = load_config(os.path.join(images_dir, "probe-root"))._replace(images_dir=images_dir)
    start = time.perf_counter()
    img = pull.pull_image(cfg, image)
    total = time.perf_counter() - start
    out: dict[str, Any] = {"total": total, "python start-up and imports": IMPORTS}
    for phase, spans in intervals.items():
        out[phase] = union(spans)
        out[f"{phase} (thread time)"] = sum(e - s for s, e in spans)
    st = store.ImageStore(images_dir)
    blobs = [open(st.blob_path(d.digest), "rb").read() for d in img.layers]
    t = time.perf_counter()
    for b in blobs:
        hashlib.sha256(b).digest()
    out["ref: sha256 of the compressed blobs"] = time.perf_counter() - t
    t = time.perf_counter()
    raws = [gzip.decompress(b) for b in blobs]
    out["ref: gunzip of the layers"] = time.perf_counter() - t
    t = time.perf_counter()
    for r in raws:
        hashlib.sha256(r).digest()
    out["ref: sha256 of the uncompressed layers"] = time.perf_counter() - t
    print(json.dumps(out))


if __name__ == "__main__":
    main()

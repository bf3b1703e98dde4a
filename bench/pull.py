"""The pull measure of bench/run.py: one multi-layer image, one loopback registry, four pullers.

    sudo python3 bench/run.py --only pull [--repeat 5]

Plain python3 (no third-party modules), as bench/run.py. The image is built here, byte for byte
(tarfile + gzip): the busybox rootfs plus three layers of pseudo-random data that compresses about
2:1 (half random bytes, half words), so decompression matters as it does for real images. It is
pushed once with skopeo to a Debian `docker-registry` started on 127.0.0.1 for the run, then every
repetition pulls it into an empty store:

- pyrunc: `pyrunc image pull -q` with PYRUNC_IMAGES set to a fresh directory (download, verify,
  unpack every layer into the store);
- podman: `podman pull --tls-verify=false` with a fresh `--root`/`--runroot` (its default overlay
  storage driver: it too downloads, verifies and unpacks every layer);
- skopeo: `skopeo copy docker://... dir:` and `oci:` into a fresh directory (download and verify
  only: no unpacking at all).

Then "a second pull adds no image I/O": a second `pyrunc image pull` of the same image into the same
store (what the `Always` policy runs for a second pod) is measured with the /proc/PID/io counters of
the pull process and a before/after listing of the store; and "where the time goes": bench/pull_probe.py
times one pull split into resolve, download+verify, unpack and the index write.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REGISTRY_BIN = "/usr/bin/docker-registry"
REPO_NAME = "bench/pull"
TAG = "v1"
CMD_TIMEOUT = 300.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
WORDS = (b"the quick brown fox jumps over the lazy dog lorem ipsum dolor sit amet consectetur "
         b"adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ").split()


_TEXT = b" ".join(random.Random(7).choice(WORDS) for _ in range(20000))


class PullBenchError(Exception):
    """One side of the pull measure failed; the message is one line for the report."""


@dataclass(slots=True)
class Timings:
    """Timings of one side of one measure; the first error stops that side (run.py's Samples too)."""

    values: list[float] = field(default_factory=list)
    error: str = ""

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values and not self.error else None


@dataclass(frozen=True, slots=True)
class BuiltImage:
    layout: Path
    layers: tuple[tuple[int, int, int], ...]  # (compressed bytes, uncompressed bytes, tar entries) per layer

    @property
    def compressed(self) -> int:
        return sum(c for c, _, _ in self.layers)

    @property
    def uncompressed(self) -> int:
        return sum(u for _, u, _ in self.layers)

    @property
    def entries(self) -> int:
        return sum(e for _, _, e in self.layers)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=CMD_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PullBenchError(f"{' '.join(cmd[:4])}: {e}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise PullBenchError(f"{' '.join(cmd[:4])} exited {proc.returncode}: {lines[-1] if lines else ''}")
    return proc.stdout


# ------------------------------------------------------------------------------------ the image


def _filler(rng: random.Random, size: int) -> bytes:
    """`size` bytes that gzip shrinks to about half: 1 KiB blocks of 512 random bytes and 512 bytes
    of text taken at a random place of a page of words."""
    out = bytearray()
    while len(out) < size:
        at = rng.randrange(len(_TEXT) - 512)
        out += rng.randbytes(512) + _TEXT[at:at + 512]
    return bytes(out[:size])


def _tar(entries: list[tuple[str, bytes | None]]) -> tuple[bytes, int]:
    """A reproducible tar of (name, data) entries (None: a directory); name ending in a whiteout ok."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), len(entries)


def _data_layers(rng: random.Random) -> list[tuple[bytes, int]]:
    """Three layers as an application image has them: many small files, a few big ones, and an
    update on top (files replaced and one whiteout)."""
    lib: list[tuple[str, bytes | None]] = [("usr/", None), ("usr/lib/", None), ("usr/lib/app/", None)]
    for d in range(30):
        lib.append((f"usr/lib/app/m{d:02d}/", None))
        for f in range(50):
            lib.append((f"usr/lib/app/m{d:02d}/f{f:02d}.py", _filler(rng, rng.randint(1 << 10, 15 << 10))))
    data: list[tuple[str, bytes | None]] = [("opt/", None), ("opt/data/", None)]
    data += [(f"opt/data/blob{i}.bin", _filler(rng, 4 << 20)) for i in range(4)]
    app: list[tuple[str, bytes | None]] = [("usr/", None), ("usr/lib/", None), ("usr/lib/app/", None),
                                             ("usr/lib/app/m00/", None), ("usr/lib/app/m00/.wh.f00.py", b"")]
    for d in range(1, 11):
        app.append((f"usr/lib/app/m{d:02d}/", None))
        for f in range(30):
            app.append((f"usr/lib/app/m{d:02d}/f{f:02d}.py", _filler(rng, rng.randint(4 << 10, 32 << 10))))
    return [_tar(lib), _tar(data), _tar(app)]


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}.get(
        machine, machine)


def build_image(work: Path, busybox_tar: Path) -> BuiltImage:
    """An OCI layout at work/layout holding REPO_NAME:TAG: busybox + 3 data layers, gzip."""
    layout = work / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    rng = random.Random(20261201)
    base = busybox_tar.read_bytes()
    with tarfile.open(busybox_tar) as t:
        base_entries = len(t.getmembers())
    raw_layers = [(base, base_entries), *_data_layers(rng)]
    layer_descs, diff_ids, sizes = [], [], []
    for raw, entries in raw_layers:
        compressed = gzip.compress(raw, compresslevel=6, mtime=0)
        digest, size = put(compressed)
        layer_descs.append({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        sizes.append((size, len(raw), entries))
    config = {
        "architecture": _arch(), "os": "linux", "created": "2026-12-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2026-12-01T00:00:00Z", "created_by": "bench/pull.py"} for _ in diff_ids],
    }
    cdigest, csize = put(json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": csize}, "layers": layer_descs}
    mdigest, msize = put(json.dumps(manifest, sort_keys=True).encode())
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": msize,
         "annotations": {"org.opencontainers.image.ref.name": TAG}}]}))
    return BuiltImage(layout, tuple(sizes))


# ------------------------------------------------------------------------------------ the registry


class LocalRegistry:
    """Debian's docker-registry on 127.0.0.1 and a free port, storage in its own directory.

    The same configuration as tests/registry_fixture.py's (that module needs pytest; the bench is
    plain python3). Stopped by its PID."""

    def __init__(self, directory: Path) -> None:
        if not os.path.exists(REGISTRY_BIN):
            raise PullBenchError(f"{REGISTRY_BIN} is missing: run bench/setup.sh (Debian's docker-registry)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        directory.mkdir(parents=True)
        config = directory / "config.yml"
        config.write_text("\n".join([
            "version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true", "storage:",
            "  filesystem:", f"    rootdirectory: {directory / 'storage'}", "  redirect:", "    disable: true",
            "http:", f"  addr: 127.0.0.1:{self.port}", f"  secret: {secrets.token_hex(16)}"]) + "\n")
        self.log = directory / "registry.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise PullBenchError(f"docker-registry exited {self.proc.returncode}: {self.log.read_text()[-300:]}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise PullBenchError("docker-registry did not answer on /v2/ within 30 s") from None
                time.sleep(0.1)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def push(self, layout: Path) -> None:
        _run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-no-creds",
              "--preserve-digests", f"oci:{layout}:{TAG}", f"docker://{self.host}/{REPO_NAME}:{TAG}"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ------------------------------------------------------------------------------------ pulling


def _mounted_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4]
            if point == str(path) or point.startswith(prefix):
                found.append(point)
    return found


def _fresh(path: Path) -> None:
    """Remove what a puller left (podman's overlay root may leave a mount of its own) and recreate."""
    for point in sorted(_mounted_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


class Pullers:
    """The four pull commands, each into a fresh directory under work/pulls."""

    def __init__(self, pyrunc: list[str], work: Path, image: str, python: str) -> None:
        self.pyrunc = pyrunc
        self.python = python  # has pyrunc importable: for bench/pull_probe.py
        self.work = work / "pulls"
        self.image = image
        conf = work / "pull-containers.conf"
        conf.write_text("[engine]\n")  # podman's defaults, nothing from the host's containers.conf
        self.podman_env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.root = work / "pull-root"  # pyrunc's --root (state only; the store is PYRUNC_IMAGES)
        self.root.mkdir(parents=True, exist_ok=True)
        # podman refuses a runroot longer than 50 characters; it is run-time state, under /run as podman's own.
        self.runroot = Path(tempfile.mkdtemp(prefix="pyrunc-bench-", dir="/run"))

    def pyrunc_env(self, store: Path) -> dict[str, str]:
        return {**os.environ, "PYRUNC_IMAGES": str(store)}

    def pyrunc_pull(self, store: Path) -> list[str]:
        return [*self.pyrunc, "--root", str(self.root), "image", "pull", "-q", self.image]

    def run(self, side: str) -> float:
        target = self.work / side
        _fresh(target)
        if side == "pyrunc":
            cmd, env = self.pyrunc_pull(target), self.pyrunc_env(target)
        elif side == "pyrunc-fetch":
            cmd = [self.python, str(Path(__file__).with_name("pull_probe.py")), "--fetch-only", str(target), self.image]
            env = self.pyrunc_env(target)
        elif side == "podman":
            _fresh(self.runroot)
            cmd = ["podman", "--root", str(target / "root"), "--runroot", str(self.runroot),
                   "pull", "-q", "--tls-verify=false", self.image]
            env = self.podman_env
        elif side == "skopeo-dir":
            cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "--src-no-creds",
                   f"docker://{self.image}", f"dir:{target / 'x'}"]
            env = None
        else:
            cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "--src-no-creds",
                   f"docker://{self.image}", f"oci:{target / 'x'}:{TAG}"]
            env = None
        start = time.perf_counter()
        _run(cmd, env)
        elapsed = time.perf_counter() - start
        if side == "podman":  # podman's storage: end what it left mounted, as `podman system reset` would
            _run(["podman", "--root", str(target / "root"), "--runroot", str(self.runroot), "rmi", "-a", "-f"],
                 env=self.podman_env)
        return elapsed

    def cleanup(self) -> None:
        for d in (self.work, self.runroot):
            _fresh(d)
            shutil.rmtree(d, ignore_errors=True)


SIDES = ("pyrunc", "podman", "skopeo-dir", "skopeo-oci", "pyrunc-fetch")


def measure_pulls(pullers: Pullers, repeat: int) -> dict[str, Timings]:
    """One untimed warm-up per side (registry page cache, binaries), then `repeat` rounds taking
    the sides in turn, so a slower minute of a shared machine falls on all of them alike."""
    out = {side: Timings() for side in SIDES}
    for i in range(repeat + 1):
        for side in SIDES:
            t = out[side]
            if t.error:
                continue
            try:
                elapsed = pullers.run(side)
            except PullBenchError as e:
                t.error = str(e)
                continue
            if i > 0:
                t.values.append(elapsed)
            print(f"  pull {side}: {elapsed * 1000:.0f} ms{' (warm-up)' if i == 0 else ''}")
    return out


# ------------------------------------------------------------------------------------ second pull


@dataclass(frozen=True, slots=True)
class IoCounters:
    rchar: int
    wchar: int
    read_bytes: int
    write_bytes: int


def run_with_io(cmd: list[str], env: dict[str, str]) -> IoCounters:
    """Run cmd and read its /proc/PID/io as it ends: waitid(WNOWAIT) leaves it a zombie whose
    counters (its threads' included) are still there, then it is reaped."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    fields = {}
    with open(f"/proc/{proc.pid}/io", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = int(value)
    rc = proc.wait()
    if rc != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise PullBenchError(f"{' '.join(cmd[:4])} exited {rc}: {lines[-1] if lines else ''}")
    return IoCounters(fields["rchar"], fields["wchar"], fields["read_bytes"], fields["write_bytes"])


def snapshot(root: Path) -> dict[str, tuple[int, int, int, int]]:
    """relative path -> (inode, size, mtime_ns, ctime_ns) of everything under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return out


def age_atimes(root: Path) -> None:
    """Set every regular file's atime to the epoch (mtime kept): with relatime, the next read of a
    file updates its atime (it is older than its ctime), so `read_files` sees exactly what was read."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.utime(path, ns=(0, st.st_mtime_ns), follow_symlinks=False)


def read_files(root: Path) -> list[str]:
    """Regular files whose atime moved since age_atimes: the files that were read."""
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_atime_ns != 0:
                out.append(os.path.relpath(path, root))
    return sorted(out)


def diff(before: dict[str, tuple[int, int, int, int]], after: dict[str, tuple[int, int, int, int]]) -> dict[str, list[str]]:
    return {
        "new": sorted(p for p in set(after) - set(before) if not p.startswith("locks/")),
        "gone": sorted(set(before) - set(after)),
        "changed": sorted(p for p in set(before) & set(after) if before[p] != after[p] and not p.startswith("locks/")),
    }


def second_pull(pullers: Pullers) -> dict[str, object]:
    """Pull into a fresh store, then pull again (what the Always policy does for a second pod):
    the second pull's /proc/PID/io, the files it read (atimes) and what it changed in the store.
    The first pull's counters are there for scale."""
    store = pullers.work / "second"
    _fresh(store)
    env = pullers.pyrunc_env(store)
    first = run_with_io(pullers.pyrunc_pull(store), env)
    os.sync()
    age_atimes(store)
    before = snapshot(store)
    again = run_with_io(pullers.pyrunc_pull(store), env)
    after = snapshot(store)
    changes = diff(before, after)
    # A file replaced or touched (used/<id>: utime moves the atime too) is in "changed" only.
    read = [p for p in read_files(store) if not p.startswith("locks/") and p in before and before[p] == after[p]]
    return {"first": first, "second": again, "changes": {**changes, "read": read}}


def probe(pullers: Pullers, python: str) -> dict[str, object]:
    """bench/pull_probe.py under the venv's python: one pull into a fresh store, split by phase."""
    store = pullers.work / "probe"
    _fresh(store)
    out = _run([python, str(Path(__file__).with_name("pull_probe.py")), str(store), pullers.image],
               env=pullers.pyrunc_env(store))
    phases: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return phases


# ------------------------------------------------------------------------------------ report

BEGIN = "<!-- pull measure: made by bench/run.py, replaced by `bench/run.py --only pull` -->"
END = "<!-- end of the pull measure -->"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def pull_venv_python(pyrunc: list[str], repo: Path) -> str:
    """The python that has pyrunc importable (for the probe)."""
    venv = repo / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else (pyrunc[0] if pyrunc[0].endswith("python3") else "python3")


def run_pull(pyrunc: list[str], work: Path, repo: Path, repeat: int, busybox_tar: Path) -> tuple[str, dict[str, object], list[str]]:
    """Build, push, pull; return (the markdown section, the raw figures, errors)."""
    errors: list[str] = []
    print("pull: building the image")
    built = build_image(work / "pull-image", busybox_tar)
    reg = LocalRegistry(work / "registry")
    kept: str | None = None
    try:
        reg.push(built.layout)
        image = f"{reg.host}/{REPO_NAME}:{TAG}"
        pullers = Pullers(pyrunc, work, image, pull_venv_python(pyrunc, repo))
        try:
            print(f"pull: {image}, {len(built.layers)} layers, {_mib(built.compressed)} compressed")
            timings = measure_pulls(pullers, repeat)
            second: dict[str, object] = {}
            phases: dict[str, object] = {}
            try:
                second = second_pull(pullers)
            except (PullBenchError, OSError) as e:
                errors.append(f"second pull: {e}")
            try:
                phases = probe(pullers, pullers.python)
            except (PullBenchError, ValueError) as e:
                errors.append(f"pull phases: {e}")
            if second:  # the pulled store stays for the second-pod measure (bench/run.py)
                kept = str(work / "pulled-store")
                os.rename(pullers.work / "second", kept)
        finally:
            pullers.cleanup()
    finally:
        reg.stop()
    for side, t in timings.items():
        if t.error:
            errors.append(f"pull {side}: {t.error}")
    raw: dict[str, object] = {"image": {"layers": built.layers}, "image name": image, "store": kept, "samples": {s: {"values": t.values, "error": t.error} for s, t in timings.items()},
           "second": {k: _io_dict(v) if isinstance(v, IoCounters) else v for k, v in second.items()},
           "phases": phases}
    return section(built, timings, second, phases, repeat), raw, errors


def _io_dict(c: IoCounters) -> dict[str, int]:
    return {"rchar": c.rchar, "wchar": c.wchar, "read_bytes": c.read_bytes, "write_bytes": c.write_bytes}


def section(built: BuiltImage, timings: dict[str, Timings], second: dict[str, object], phases: dict[str, object],
            repeat: int) -> str:
    ours = timings["pyrunc"].median()
    lines = [BEGIN, "## Pull of a multi-layer image from a loopback registry", "",
             f"Made by `sudo python3 bench/run.py --only pull --repeat {repeat}` (after `sudo bench/setup.sh`; "
             "a run without `--only` makes it too), every side in the same run.",
             f"The image: {len(built.layers)} gzip layers, {_mib(built.compressed)} compressed, "
             f"{_mib(built.uncompressed)} uncompressed, {built.entries} tar entries "
             "(the busybox rootfs; 1,500 small files; four 4 MiB files; an update of 300 files with a whiteout), "
             "data half random, half text. Served by Debian's `docker-registry` on 127.0.0.1 (plain HTTP).",
             f"Each side pulls into an empty directory; medians of {repeat} rounds after one untimed warm-up, "
             "the sides taking turns within each round.", "",
             "| ours | value | peer | value | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    what = {"pyrunc": "pyrunc image pull",
            "pyrunc-fetch": "pyrunc, download+verify only",
            "podman": "podman pull --tls-verify=false",
            "skopeo-dir": "skopeo copy docker:// dir:",
            "skopeo-oci": "skopeo copy docker:// oci:"}
    rows = [("pyrunc", "podman", 1.0), ("pyrunc", "skopeo-dir", 1.0), ("pyrunc", "skopeo-oci", None),
            ("pyrunc-fetch", "skopeo-dir", None), ("pyrunc-fetch", "skopeo-oci", None)]
    for ours_side, peer, limit in rows:
        o, m = timings[ours_side].median(), timings[peer].median()
        ratio = None if o is None or not m else o / m
        met = "n/a" if ratio is None or limit is None else ("yes" if ratio <= limit else "no")
        lines.append(f"| {what[ours_side]} | {_ms(o)} | {what[peer]} | {_ms(m)} | "
                     f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | {'-' if limit is None else f'≤ {limit:g}x'} | {met} |")
    lines += ["", "- `pyrunc image pull` and `podman pull` download, verify and unpack every layer (podman into its "
              "default overlay storage driver, with a fresh `--root`/`--runroot`); `skopeo copy` downloads and "
              "verifies only, it unpacks nothing.",
              "- *pyrunc, download+verify only*: `bench/pull_probe.py --fetch-only`, the store's own fetch "
              "(resolve, every blob verified and fsync'd into blobs/ on 4 threads, interpreter start-up included), "
              "without unpacking: the same work as `skopeo copy`."]
    if second:
        first, again = second["first"], second["second"]
        changes = second["changes"]
        assert isinstance(first, IoCounters) and isinstance(again, IoCounters) and isinstance(changes, dict)
        lines += ["", "### A second pull of the same image (what the Always policy runs for a second pod)", "",
                  "`/proc/PID/io` of the `pyrunc image pull` process as it ends (`write_bytes`: bytes it "
                  "dirtied for the disk; `read_bytes`: disk reads, 0 when the page cache held everything; "
                  "`rchar`/`wchar`: every read()/write() call, sockets and Python's own .pyc files included):", "",
                  "| pull | read_bytes | write_bytes | rchar | wchar |", "|---|---|---|---|---|",
                  f"| first, into an empty store | {_kib(first.read_bytes)} | {_kib(first.write_bytes)} | "
                  f"{_kib(first.rchar)} | {_kib(first.wchar)} |",
                  f"| second, same store | {_kib(again.read_bytes)} | {_kib(again.write_bytes)} | "
                  f"{_kib(again.rchar)} | {_kib(again.wchar)} |", "",
                  "What the second pull did to the store (`locks/` left out): files it made, removed, changed "
                  "(inode, size, mtime or ctime) and read (every file's atime was set to the epoch before it, "
                  "so with relatime a read moves it):", ""]
        for key in ("new", "gone", "changed", "read"):
            paths = changes.get(key) or []
            lines.append(f"- {key}: {', '.join(f'`{p}`' for p in paths) if paths else 'nothing'}")
    if phases:
        total = float(phases.get("total", 0.0))  # type: ignore[arg-type]
        lines += ["", "### Where a pyrunc pull's time goes", "",
                  "One pull by bench/pull_probe.py (pyrunc's own pull with timers around its phases). Layers are "
                  "fetched and unpacked on 4 threads, so wall time is the union of a phase's intervals and "
                  "thread time their sum; phases overlap (one layer unpacks while another downloads).", "",
                  "| phase | wall | share of the pull | thread time |", "|---|---|---|---|"]
        order = ("total", "python start-up and imports", "resolve", "download+verify", "blob fsync", "unpack",
                 "decompress+diff_id", "index write")
        for key in order:
            value = phases.get(key)
            if not isinstance(value, (int, float)):
                continue
            share = f"{100 * value / total:.0f} %" if total and key not in order[:2] else "-"
            thread = phases.get(f"{key} (thread time)")
            label = f"of which {key}" if key in ("blob fsync", "decompress+diff_id") else key
            lines.append(f"| {label} | {_ms(float(value))} | {share} | "
                         f"{_ms(float(thread)) if isinstance(thread, (int, float)) else '-'} |")
        refs = [f"{k[5:]} {_ms(float(v))}" for k, v in phases.items() if k.startswith("ref:") and isinstance(v, (int, float))]
        lines += ["", f"Reference costs of the same bytes in memory, one thread: {'; '.join(refs)}."]
    lines += [END]
    return "\n".join(lines) + "\n"


def pod_lines(pod: dict[str, object]) -> str:
    """The second-pod figures of bench/run.py's second_pod, as lines of the section."""
    lines = ["", "### A second pod on the pulled image", "",
             "Two pods (two containers each) run from the image already in the store (`IfNotPresent`: its tag "
             "is not `latest`). Every file's atime was set to the epoch after the first pod was up; what "
             "starting the second pod did to the store (`locks/` left out):", ""]
    for key in ("new", "gone", "changed", "read"):
        paths = pod.get(key) or []
        assert isinstance(paths, list)
        lines.append(f"- {key}: {', '.join(f'`{p}`' for p in paths) if paths else 'nothing'}")
    lines.append(f"- files under the layers' `diff/` read by the new containers themselves (through overlayfs: "
                 f"their programs, not image I/O): {pod.get('container reads', 0)}")
    return "\n".join(lines) + "\n"


def with_pod_lines(section: str, pod: dict[str, object]) -> str:
    """The section with the second-pod lines after the second-pull ones."""
    mark = "\n### Where a pyrunc pull's time goes"
    if mark in section:
        return section.replace(mark, pod_lines(pod) + mark, 1)
    return section.replace(END, pod_lines(pod) + END)


def merge_section(existing: str, new_section: str) -> str:
    """The report with its pull section replaced (or appended when it has none)."""
    if BEGIN in existing and END in existing:
        head, rest = existing.split(BEGIN, 1)
        return head + new_section.rstrip("\n") + rest.split(END, 1)[1]
    return existing.rstrip("\n") + "\n\n" + new_section

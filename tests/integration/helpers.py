"""A pyrunc node for integration tests: an isolated root, the real CLI, and a leak check.

Every `Node` has its own state root in a temp dir, its own data and pod log directories next to it
(never the host's /var/lib/pyrunc/pods or /var/log/pods), and its own bridge (`pyt<hex>`) and pod
subnet (10.66.<n>.0/24), so parallel roots never clash. The CLI is run as a subprocess, exactly
as a user runs it. Teardown force-deletes, by name, every pod the node applied, then checks from
the host that nothing of the root is left: pod dirs, mounts, recorded processes, veths on the
bridge, IP leases, and the supervisor daemon.

Fixtures here are imported by the test modules (`from tests.integration.helpers import node`).
Waits poll with a generous deadline that only bounds a broken run; no test asserts a duration.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

PYRUNC = [sys.executable, "-m", "pyrunc"]
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# The node's image store (scripts/setup.sh imports the built-in busybox into it; the QEMU guest points
# PYRUNC_IMAGES at its own).
IMAGES = Path(os.environ.get("PYRUNC_IMAGES") or "/var/lib/pyrunc/images")
WAIT = 30.0  # seconds; a bound for broken runs, never a performance assertion


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc/PID/stat; None when there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[19])


def exists(pid: int, start_time: int | None = None) -> bool:
    """The pid (with that start time) is in the process table, zombies included."""
    stat = proc_stat(pid)
    return stat is not None and (start_time is None or stat[1] == start_time)


def alive(pid: int, start_time: int | None = None) -> bool:
    """Running: exists and is not a zombie (a zombie is dead, only not yet reaped by its parent)."""
    stat = proc_stat(pid)
    return exists(pid, start_time) and stat is not None and stat[0] not in ("Z", "X")


def proc_start_time(pid: int) -> int | None:
    stat = proc_stat(pid)
    return stat[1] if stat else None


def parent_pid(pid: int) -> int | None:
    """PPid of /proc/PID/status; None when there is no such pid."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except (FileNotFoundError, ProcessLookupError):
        return []


def spawner_pids(daemon: int) -> list[int]:
    """The daemon's action spawner(s) (pyrunc/probe/spawner.py): its children named "pyrunc-spawner". By name, not
    command line: the spawner's action children share its command line (and are the daemon's children once
    their spawner is gone), but name themselves "pyrunc-action"."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                comm, rest = f.read().split(" (", 1)[1].rsplit(")", 1)
            ppid = int(rest.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == daemon and comm == "pyrunc-spawner":
            found.append(int(entry))
    return found


def ns_id(pid: int | str, kind: str) -> str:
    """The namespace identity (`net:[4026531992]`) of a pid, or of "self"."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def mounts_under(path: str) -> list[str]:
    """Mount points at or below `path` in the host (test process) mount namespace."""
    prefix = path.rstrip("/")
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4]
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def _read_json(path: Path) -> dict[str, Any]:
    """A state file's facts, {} while it is missing or being replaced."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def poll(what: str, fn: Callable[[], Any], timeout: float = WAIT, interval: float = 0.1) -> Any:
    """Call `fn` until it returns something truthy; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


_SUBNETS_TAKEN: set[int] = set()


def unique_subnet(low: int = 1, high: int = 250) -> str:
    """A 10.66.<n>.0/24 that no interface of the host routes now and this session has not handed out."""
    with open("/proc/net/route", encoding="ascii") as f:
        routed = set()
        for line in f.readlines()[1:]:
            dest = int(line.split()[1], 16)  # little-endian IPv4
            if dest & 0xFFFF == 0x420A:  # 10.66.x.x
                routed.add((dest >> 16) & 0xFF)
    free = [n for n in range(low, high + 1) if n not in routed and n not in _SUBNETS_TAKEN]
    n = free[secrets.randbelow(len(free))]
    _SUBNETS_TAKEN.add(n)
    return f"10.66.{n}.0/24"


class Node:
    """One isolated pyrunc root driven through the CLI."""

    def __init__(self, base: Path, **settings: Any) -> None:
        self.root = str(base / "root")
        os.makedirs(self.root)
        self.data_dir = str(base / "data")
        self.logs_dir = str(base / "logs")
        self.images_dir = str(settings.get("images_dir") or IMAGES)
        self.bridge = f"pyt{secrets.token_hex(3)}"
        self.subnet = unique_subnet()
        # daemon_linger 0: the supervisor leaves with the last pod, so teardown can check no process is left.
        # offline: the suite never contacts a registry off this host (`image: busybox` is the built-in one).
        config = {"bridge": self.bridge, "pod_subnet": self.subnet, "daemon_linger": 0, "offline": True,
                  "data_dir": self.data_dir, "pod_logs_dir": self.logs_dir, **settings}
        Path(self.root, "config.json").write_text(json.dumps(config))
        self.pods: set[tuple[str, str]] = set()  # (namespace, name) applied through this node
        self.pids: dict[int, int | None] = {}  # every container/holder pid seen -> its start time
        self.daemon_pids: set[int] = set()
        self.helper_pids: dict[int, int | None] = {}  # the daemons' action spawners seen -> their start time
        self.hung = False  # a CLI call hung: teardown goes straight to the last-resort cleanup

    # -- the CLI -------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`pyrunc --root ROOT ARGS...`; the timeout only stops a hung CLI from hanging the suite."""
        try:
            proc = subprocess.run([*PYRUNC, "--root", self.root, *args], input=input, capture_output=True,
                                  text=True, timeout=timeout, cwd=str(REPO))
        except subprocess.TimeoutExpired:
            self.hung = True
            raise AssertionError(f"pyrunc {' '.join(args)} did not return within {timeout:.0f}s") from None
        self._remember_daemon()
        if check and proc.returncode != 0:
            raise AssertionError(f"pyrunc {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def apply(self, manifest: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`apply -f -` with `manifest`; remembers every pod it names for the teardown."""
        for doc in yaml.safe_load_all(manifest):
            if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
                meta = doc["metadata"]
                self.pods.add((str(meta.get("namespace") or "default"), str(meta.get("name"))))
        proc = self.run("apply", "-f", "-", input=manifest, check=check)
        self.remember_pids()
        return proc

    def apply_file(self, path: Path | str) -> subprocess.CompletedProcess[str]:
        return self.apply(Path(path).read_text())

    def pod_json(self, name: str, namespace: str = "default") -> dict[str, Any]:
        return json.loads(self.run("get", "pod", name, "-n", namespace, "-o", "json").stdout)

    def exec(self, pod: str, container: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("exec", pod, "-c", container, "--", *cmd, check=check)

    def delete(self, name: str, namespace: str = "default") -> None:
        self.remember_pids()
        self.run("delete", "pod", name, "-n", namespace, "--grace-period=0", "--force", timeout=20)
        self.pods.discard((namespace, name))

    # -- facts on disk -------------------------------------------------------------------
    def pod_dir(self, name: str, namespace: str = "default") -> Path:
        return Path(self.root, "pods", f"{namespace}_{name}")

    def uid(self, pod: str, namespace: str = "default") -> str:
        return str(_read_json(self.pod_dir(pod, namespace) / "pod.json")["metadata"]["uid"])

    def volume_dir(self, pod: str, volume: str, namespace: str = "default") -> Path:
        """A disk emptyDir of the pod, on the host (the kubelet's layout under the node's data_dir)."""
        return Path(self.data_dir, "pods", self.uid(pod, namespace), "volumes", "kubernetes.io~empty-dir", volume)

    def log_dir(self, pod: str, container: str, namespace: str = "default") -> Path:
        """A container's log directory: <pod_logs_dir>/<namespace>_<name>_<uid>/<container>."""
        return Path(self.logs_dir, f"{namespace}_{pod}_{self.uid(pod, namespace)}", container)

    def state(self, pod: str, container: str, namespace: str = "default") -> dict[str, Any]:
        from pyrunc.status import container_facts

        cdir = self.pod_dir(pod, namespace) / "containers" / container
        return container_facts(_read_json(cdir / "container.json"), _read_json(cdir / "state.json"))

    def container_pid(self, pod: str, container: str, namespace: str = "default") -> int:
        """The pid of the container's running process (its PID 1, seen from the host)."""
        rec = self.state(pod, container, namespace)
        pid = int(rec.get("pid") or 0)
        assert pid and alive(pid, rec.get("startTime")), f"{pod}/{container} is not running: {rec}"
        self.pids[pid] = rec.get("startTime")
        return pid

    def daemon_pid(self) -> int:
        facts = json.loads(Path(self.root, "daemon.json").read_text())
        return int(facts["pid"])

    def remember_pids(self) -> None:
        """Record every pid the root's state names, so teardown can prove each one is gone."""
        pods = Path(self.root, "pods")
        if not pods.is_dir():
            return
        for state in pods.glob("*/containers/*/container.json"):
            rec = _read_json(state)
            if rec.get("pid"):
                self.pids[int(rec["pid"])] = rec.get("startTime")
        for sandbox in pods.glob("*/sandbox.json"):
            rec = _read_json(sandbox)
            if rec.get("holderPid"):
                self.pids[int(rec["holderPid"])] = rec.get("holderStart")

    def _remember_daemon(self) -> None:
        try:
            pid = self.daemon_pid()
        except (OSError, ValueError, KeyError):
            return
        self.daemon_pids.add(pid)
        for spawner in spawner_pids(pid):  # it must leave with the daemon
            self.helper_pids.setdefault(spawner, proc_start_time(spawner))

    # -- waiting -------------------------------------------------------------------------
    def wait_running(self, pod: str, namespace: str = "default", timeout: float = WAIT) -> dict[str, Any]:
        """Poll until every container of `pod` is running; return the pod's JSON."""
        def ready() -> dict[str, Any] | None:
            obj = self.pod_json(pod, namespace)
            statuses = obj["status"].get("containerStatuses", [])
            if statuses and all("running" in s["state"] for s in statuses):
                return obj
            return None

        obj = poll(f"pod {pod} running", ready, timeout)
        self.remember_pids()
        return obj

    def wait_log(self, pod: str, container: str, text: str, *flags: str, timeout: float = WAIT) -> str:
        def has() -> str | None:
            out = self.run("logs", pod, "-c", container, *flags, check=False).stdout
            return out if text in out else None

        return poll(f"{text!r} in logs of {pod}/{container}", has, timeout)

    # -- leak check ----------------------------------------------------------------------
    def leftovers(self) -> list[str]:
        """Everything of this root still present on the host (empty when clean)."""
        left = []
        pods = Path(self.root, "pods")
        if pods.is_dir() and any(pods.iterdir()):
            left.append(f"pod dirs: {sorted(p.name for p in pods.iterdir())}")
        if mounts_under(self.root):
            left.append(f"mounts: {mounts_under(self.root)}")
        procs = [pid for pid, start in self.pids.items() if alive(pid, start)]
        if procs:
            left.append(f"processes still running: {procs}")
        brif = Path("/sys/class/net", self.bridge, "brif")
        if brif.is_dir() and any(brif.iterdir()):
            left.append(f"veths on {self.bridge}: {sorted(p.name for p in brif.iterdir())}")
        for where in (Path(self.data_dir, "pods"), Path(self.logs_dir)):
            if where.is_dir() and any(where.iterdir()):
                left.append(f"pod data or logs: {sorted(str(p) for p in where.iterdir())}")
        leases = Path(self.root, "network", "leases")
        if leases.is_dir() and any(leases.iterdir()):
            left.append(f"leases: {sorted(p.name for p in leases.iterdir())}")
        image_leases = [p.name for p in Path(self.images_dir, "leases").glob("*.json")
                        if json.loads(p.read_text()).get("owner", "").startswith(self.root + "/")]
        if image_leases:
            left.append(f"image leases: {sorted(image_leases)}")
        return left

    def node_leftovers(self) -> list[str]:
        """What the root's node-wide set-up left once its last pod is gone: bridge, NAT table, cgroups."""
        left = []
        if Path("/sys/class/net", self.bridge).exists():
            left.append(f"bridge {self.bridge}")
        if shutil.which("nft"):  # absent where pods have no network (the QEMU cgroup2 guest)
            tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
            if f"pyrunc_{self.bridge}" in tables.split():
                left.append(f"nft table ip pyrunc_{self.bridge}")
        marks = Path(self.root, "cgroups")
        if marks.is_dir() and any(marks.iterdir()):
            left.append(f"pod cgroups: {sorted(p.name for p in marks.iterdir())}")
        return left

    def lingering(self) -> list[int]:
        """The daemon, or recorded pids still in the process table (zombies included)."""
        procs = [pid for pid, start in {**self.pids, **self.helper_pids}.items() if exists(pid, start)]
        return procs + [pid for pid in self.daemon_pids if exists(pid)]

    def teardown(self) -> None:
        """Force-delete every pod applied here by name, then assert the root left nothing."""
        self.remember_pids()
        errors = []
        for namespace, name in sorted(self.pods):
            if self.hung:
                errors.append(f"not deleted (an earlier pyrunc call hung): {namespace}/{name}")
                continue
            try:
                proc = self.run("delete", "pod", name, "-n", namespace, "--grace-period=0", "--force",
                                "--ignore-not-found", check=False, timeout=30)
            except AssertionError as e:
                errors.append(str(e))
                continue
            if proc.returncode != 0:
                errors.append(f"delete {namespace}/{name}: {proc.stderr.strip()}")
        self.pods.clear()
        try:
            left = self.leftovers()
            # The daemon reaps its last children and exits shortly after its last pod is gone.
            deadline = time.monotonic() + 10
            while self.lingering() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.lingering():
                left.append(f"processes (daemon {sorted(self.daemon_pids)}) still present: {self.lingering()}")
            left += self.node_leftovers()
            assert not errors and not left, "; ".join(errors + left)
        finally:
            self._last_resort()

    def _last_resort(self) -> None:
        """Whatever the check found, do not leave it to the next test run (by id, never by name)."""
        import signal

        # The daemon first: a pod's holder (PID 1 of a shared PID namespace) cannot finish exiting
        # while the namespace still has zombies whose parent, the daemon, does not reap them.
        for pid in list(self.daemon_pids):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid, start in {**self.pids, **self.helper_pids}.items():
            if alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        for point in sorted(mounts_under(self.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        if Path("/sys/class/net", self.bridge).exists():
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
        if shutil.which("nft"):
            subprocess.run(["nft", "delete", "table", "ip", f"pyrunc_{self.bridge}"], capture_output=True, check=False)


def _node(base: Path, **settings: Any) -> Iterator[Node]:
    n = Node(base, **settings)
    try:
        yield n
    finally:
        n.teardown()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    """A fresh node for one test."""
    yield from _node(tmp_path)


@pytest.fixture(scope="module")
def module_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node shared by a module's read-only tests (pods applied once, deleted at the end)."""
    yield from _node(tmp_path_factory.mktemp("node"))


def pod_yaml(name: str, containers: str, extra_spec: str = "", metadata: str = "") -> str:
    """A Pod manifest; `containers` and `extra_spec` are YAML indented for `spec:` members."""
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{metadata}"
            f"spec:\n  terminationGracePeriodSeconds: 0\n{extra_spec}  containers:\n{containers}")


def sleeper(name: str, extra: str = "") -> str:
    """A busybox container that sleeps (and stops at once on TERM: sh traps it)."""
    return (f"  - name: {name}\n    image: busybox\n"
            f"    command: [sh, -c, 'trap \"exit 0\" TERM; sleep 3600 & wait']\n{extra}")


def seeded_store(dest: Path) -> Path:
    """A store of the test's own holding the node's built-in busybox, copied with `cp -a` (C speed,
    hard links kept) from the node's store rather than unpacked again: test images made on it by
    import_image share that layer, so only their own small layers are unpacked."""
    dest.mkdir(parents=True, exist_ok=True)
    parts = [str(IMAGES / p) for p in ("oci-layout", "index.json", "blobs", "layers") if (IMAGES / p).exists()]
    if parts:
        subprocess.run(["cp", "-a", *parts, str(dest)], check=True)
    os.chmod(dest, 0o700)
    return dest


def import_image(images_dir: Path, name: str, entries: list[Any] = (), *, user: str = "",  # type: ignore[assignment]
                 cmd: list[str] | None = None, base: bool = True) -> str:
    """Put image `name` into the store at `images_dir`, as `pyrunc image import` of an OCI layout does:
    the busybox layer (unless `base` is false) under a layer made of `entries` (tests/imagekit.py's
    File, Symlink, Whiteout, ...). Returns the name."""
    import tempfile

    from pyrunc.config import NodeConfig
    from pyrunc.images.pull import import_archive
    from tests import imagekit

    with tempfile.TemporaryDirectory(prefix="pyrunc-image-") as tmp:
        layers = ([imagekit.busybox_layer(Path(tmp), compression="")] if base else [])
        if entries:
            layers.append(imagekit.Layer(list(entries), compression=""))
        spec = imagekit.ImageSpec(name, layers, cmd=cmd or ["sh"], user=user,
                                  architecture=imagekit.host_arch())
        layout = imagekit.write_layout(Path(tmp) / "layout", [spec])
        import_archive(NodeConfig(images_dir=str(images_dir)), str(layout))
    return name


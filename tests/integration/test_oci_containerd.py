"""containerd from Debian's package runs containers through pyrunc-oci: `ctr run --runc-binary` makes the
io.containerd.runc.v2 shim call pyrunc-oci (`--root R --log L --log-format json create --bundle B
--pid-file P [--console-socket S]`, `start`, `state`, `kill`, `delete`, `exec --process F --detach
--pid-file P`, `ps --format json`, `pause`, `resume`) instead of runc.

Each test module starts its OWN containerd (never the system's service or socket): a private config.toml
with its own root, state, gRPC and ttrpc sockets under a tmp directory, the CRI plugin disabled, and a
unique namespace. The image is an OCI layout of the busybox rootfs built here and `ctr images import`ed (no
network). Teardown stops containerd (SIGTERM, then SIGKILL), kills the shims it started (found by their
`-address` argument), removes the containers' cgroups, unmounts what is left under its root and removes the
shims' sockets (containerd 1.6 puts them in /run/containerd/s/ whatever its state directory is)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import select
import signal
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.imagekit import ImageSpec, Layout, busybox_layer, host_arch, tar_layout
from tests.integration.helpers import WAIT, REPO, poll, proc_stat
from tests.integration.test_oci_verbs import _through_a_terminal

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(CONTAINERD is None or CTR is None,
                                 reason="containerd is not installed (scripts/setup.sh --test installs it)")]
IMAGE = "docker.io/library/pyrunc-busybox:ctr"
CGROUP = Path("/sys/fs/cgroup")
# containerd 1.6's shims listen in /run/containerd/s/ (hard-coded, not under `state`), named by a hash of
# the containerd address, the namespace and the container id (runtime/v2/shim/util_unix.go SocketAddress).
SHIM_SOCKETS = Path("/run/containerd/s")
CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled}]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.snapshotter.v1.overlayfs"]
  root_path = "{d}/root/overlayfs"
"""
# The CRI plugin with pyrunc-oci as its default runtime, configured as docs/oci.md tells users to: runc's
# shim with BinaryName. Pods use the node's network (no CNI here); the stream server listens on loopback.
CRI_CONFIG = """[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "pyrunc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyrunc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.pyrunc.options]
        BinaryName = "{runtime}"
        Root = "{runc_root}"
"""
PAUSE = "docker.io/library/pyrunc-pause:ctr"
CRI_NS = "k8s.io"  # the CRI plugin's containerd namespace


def _cgroup_v2() -> bool:
    return (CGROUP / "cgroup.controllers").exists()


class Containerd:
    """A private containerd, its namespace, pyrunc-oci as the shim's runtime binary and the ids made."""

    def __init__(self, tmp: Path, cri: bool = False) -> None:
        self.dir = tmp
        self.sock = tmp / "c.sock"
        # ctr's namespace, and the top cgroup of every container of this containerd (ctr's cgroupsPath is
        # /NAMESPACE/ID; the CRI pods get it as their cgroup parent).
        self.ns = "pyrunc-test-" + uuid.uuid4().hex[:8]
        # The shim runs pyrunc-oci by path (options.json's BinaryName), as conmon does for podman.
        self.runtime = tmp / "pyrunc-oci"
        # It also writes down every call (its argv, one Python list a line) for the tests to look at.
        self.calls = tmp / "calls.txt"
        self.runtime.write_text(f"#!{sys.executable}\nimport sys; sys.path.insert(0, {str(REPO)!r})\n"
                                f"with open({str(self.calls)!r}, 'a') as f: f.write(repr(sys.argv[1:]) + '\\n')\n"
                                "from pyrunc.oci.cli import console; console()\n")
        self.runtime.chmod(0o755)
        # The shim's --root for pyrunc-oci is <runc-root>/<namespace>: private too (the default would be
        # /run/containerd/runc).
        self.runc_root = tmp / "runtime-root"
        self.state_root = self.runc_root / (CRI_NS if cri else self.ns)
        self.fifos = tmp / "fifo"  # ctr's stdio FIFOs (default /run/containerd/fifo)
        self.ids: set[str] = set()
        self.made_run_containerd = not SHIM_SOCKETS.parent.exists()
        config = CONFIG.format(d=tmp, disabled="" if cri else '"io.containerd.grpc.v1.cri"')
        if cri:
            config += CRI_CONFIG.format(d=tmp, pause=PAUSE, runtime=self.runtime, runc_root=self.runc_root)
        (tmp / "config.toml").write_text(config)
        self.log = open(tmp / "containerd.log", "wb")
        self.proc = subprocess.Popen([CONTAINERD or "containerd", "--config", str(tmp / "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        poll("containerd to answer", self._answers)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"containerd exited {self.proc.returncode}: {self.logs()}")
        return subprocess.run([CTR or "ctr", "--address", str(self.sock), "version"], capture_output=True,
                              timeout=WAIT).returncode == 0

    def logs(self) -> str:
        return (self.dir / "containerd.log").read_text(errors="replace")[-4000:]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=WAIT * 2,
                             stdin=subprocess.DEVNULL, check=False)
        if check:
            assert out.returncode == 0, f"ctr {' '.join(args)}: {out.stderr}"
        return out

    def argv(self, *args: str) -> list[str]:
        return [CTR or "ctr", "--address", str(self.sock), "--namespace", self.ns, *args]

    def run_flags(self, cid: str) -> list[str]:
        self.ids.add(cid)
        return ["--runc-binary", str(self.runtime), "--runc-root", str(self.runc_root), "--fifo-dir", str(self.fifos)]

    def import_image(self, tmp: Path, images: dict[str, list[str]], ns: str | None = None) -> None:
        """An OCI archive of the busybox rootfs under each name (with its Cmd), imported with ctr."""
        layout = Layout(tmp / "layout")
        for name, cmd in images.items():
            layout.add(ImageSpec(name, [busybox_layer(tmp, "")], cmd=cmd, architecture=host_arch()))
            # ctr names an imported image from containerd's own annotation (ref.name alone needs --base-name).
            layout.index[-1]["annotations"]["io.containerd.image.name"] = name
        layout.close()
        archive = str(tar_layout(tmp / "layout", tmp / "busybox.tar"))
        self("--namespace", ns or self.ns, "images", "import", archive)

    def verbs(self, cid: str) -> list[list[str]]:
        """The shim's calls of pyrunc-oci for one container, each [VERB, ARGS...] without the global flags
        (`--root R --log L --log-format json`, checked here)."""
        out = []
        for line in self.calls.read_text().splitlines() if self.calls.exists() else []:
            argv = ast.literal_eval(line)
            assert argv[:2] == ["--root", str(self.state_root)] and argv[2] == "--log" \
                and argv[4:6] == ["--log-format", "json"], argv
            if cid in argv[6:]:
                out.append(argv[6:])
        return out

    def tasks(self) -> dict[str, tuple[int, str]]:
        """`ctr task ls`: id -> (pid, status)."""
        rows = self("task", "ls").stdout.splitlines()[1:]
        return {r.split()[0]: (int(r.split()[1]), r.split()[2]) for r in rows if r.strip()}

    def remove(self, cid: str) -> None:
        """What a user does: kill the task, delete it, delete the container."""
        if cid in self.tasks():
            self("task", "kill", "--signal", "KILL", cid, check=False)
            poll(f"task {cid} to stop", lambda: self.tasks().get(cid, (0, "STOPPED"))[1] == "STOPPED")
            self("task", "delete", cid, check=False)
        self("container", "delete", cid, check=False)

    def shims(self, cid: str | None = None) -> list[int]:
        """Pids of the shims this containerd started (their argv holds `-address SOCK`), or of one container's."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-address" in argv and str(self.sock).encode() in argv and b"-namespace" in argv \
                    and (cid is None or cid.encode() in argv):
                found.append(int(entry.name))
        return found

    def close(self) -> None:
        for cid in sorted(self.ids):
            try:
                self.remove(cid)
            except (Exception, pytest.fail.Exception):  # noqa: BLE001 - teardown goes on: the rest is removed below
                pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        for pid in self.shims():
            socket = _shim_socket(pid)
            os.kill(pid, signal.SIGKILL)
            if socket:
                socket.unlink(missing_ok=True)
        groups = [g for top in _cgroup_dirs(self.ns) for g in sorted(top.iterdir()) if g.is_dir()]
        for group in groups:
            for pid in _procs(group):
                os.kill(pid, signal.SIGKILL)
        for group in groups:
            poll(f"{group} to empty", lambda: not _procs(group))
            group.rmdir()
        for top in _cgroup_dirs(self.ns):  # made by the runtime's create (runc leaves it too)
            top.rmdir()
        for mount in _mounts_under(self.dir):
            subprocess.run(["umount", "-l", mount], check=False)
        if self.made_run_containerd:
            for d in (SHIM_SOCKETS, SHIM_SOCKETS.parent / "fifo", SHIM_SOCKETS.parent):
                try:
                    d.rmdir()
                except OSError:
                    pass  # not empty: something else uses it now
        shutil.rmtree(self.dir / "root", ignore_errors=True)


def _shim_socket(pid: int) -> Path | None:
    """The socket a shim listens on, from its `-namespace NS -id ID -address A` (None once it is gone)."""
    try:
        argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        flags = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("-")}
        key = os.path.join(flags["-address"], flags["-namespace"], flags["-id"])
    except (OSError, KeyError):
        return None
    return SHIM_SOCKETS / hashlib.sha256(key.encode()).hexdigest()


def _cgroup_dirs(*parts: str) -> list[Path]:
    """The directory /<parts...> in every mounted hierarchy that has it."""
    if _cgroup_v2():
        candidates = [CGROUP.joinpath(*parts)]
    else:
        candidates = [h.joinpath(*parts) for h in CGROUP.iterdir() if h.is_dir() and not h.is_symlink()]
    return [c for c in candidates if c.is_dir()]


def _cgroups(ns: str, cid: str) -> list[Path]:
    return _cgroup_dirs(ns, cid)


def _procs(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _mounts_under(where: Path) -> list[str]:
    """Mount points below `where`, deepest first (mountinfo's 5th field, octal escapes undone)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(str(where) + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


@pytest.fixture(scope="module")
def ctrd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    c = Containerd(tmp_path_factory.mktemp("ctrd"))
    try:
        c.import_image(tmp_path_factory.mktemp("ctrd-image"), {IMAGE: ["sh"]})
        yield c
    finally:
        c.close()
    assert not c.shims(), "a shim of the test's containerd is left"
    assert not _cgroup_dirs(c.ns), "the namespace's cgroup is left"
    assert not _mounts_under(c.dir), "a mount under the test's containerd is left"


def _oci(ctrd: Containerd, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """pyrunc-oci itself on the containers containerd made (not through the recording script)."""
    return subprocess.run([sys.executable, "-m", "pyrunc.oci", "--root", str(ctrd.state_root), *args], cwd=REPO,
                          input=stdin, capture_output=True, text=True, timeout=WAIT)


def _gone(ctrd: Containerd, cid: str, pid: int, start: int) -> None:
    """Nothing of the container is left: its init, its cgroup, pyrunc-oci's state, its shim."""
    stat = proc_stat(pid)
    assert stat is None or stat[1] != start, f"the init {pid} of {cid} is left"
    assert not _cgroups(ctrd.ns, cid), f"the cgroup of {cid} is left"
    assert not (ctrd.state_root / cid).exists(), f"pyrunc-oci's state of {cid} is left"
    poll(f"the shim of {cid} to exit", lambda: not ctrd.shims(cid))


def test_run_in_the_foreground_returns_output_and_status(ctrd: Containerd) -> None:
    out = ctrd("run", "--rm", *ctrd.run_flags("fg1"), IMAGE, "fg1", "sh", "-c", "echo hello; echo err >&2; exit 5",
               check=False)
    assert out.returncode == 5, out.stderr
    assert out.stdout == "hello\n" and "err\n" in out.stderr
    assert ctrd("container", "ls", "--quiet").stdout.split() == []
    assert not (ctrd.state_root / "fg1").exists()
    calls = ctrd.verbs("fg1")
    assert [c[0] for c in calls][:3] == ["create", "start", "delete"], calls
    bundle = ctrd.dir / "state" / "io.containerd.runtime.v2.task" / ctrd.ns / "fg1"
    assert calls[0] == ["create", "--bundle", str(bundle), "--pid-file", str(bundle / "init.pid"), "fg1"], calls


def test_a_failing_create_reports_pyrunc_ocis_error(ctrd: Containerd) -> None:
    # The shim reads the last error of pyrunc-oci's --log (JSON lines) into its own error.
    out = ctrd("run", "--rm", *ctrd.run_flags("bad1"), IMAGE, "bad1", "/no-such-program", check=False)
    assert out.returncode != 0
    assert "OCI runtime create failed" in out.stderr and "/no-such-program" in out.stderr, out.stderr
    assert not (ctrd.state_root / "bad1").exists()
    assert not _cgroups(ctrd.ns, "bad1")


def test_a_detached_container_seen_from_the_host(ctrd: Containerd) -> None:
    cid = "det1"
    ctrd("run", "--detach", *ctrd.run_flags(cid), IMAGE, cid, "sleep", "300")
    pid, status = ctrd.tasks()[cid]
    assert status == "RUNNING"
    start = (proc_stat(pid) or ("", 0))[1]
    # pyrunc-oci's state, where the shim's --root put it, names the same init.
    state = json.loads(_oci(ctrd, "state", cid).stdout)
    assert state["pid"] == pid and state["status"] == "running"
    assert (ctrd.state_root / cid / "state.json").exists()
    for ns in ("pid", "mnt", "uts", "ipc", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # containerd's cgroupsPath is /<namespace>/<id>.
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    groups = _cgroups(ctrd.ns, cid)
    assert groups and all(pid in _procs(g) for g in groups)
    assert any(line.endswith(f"/{ctrd.ns}/{cid}") for line in lines), lines
    assert (Path(f"/proc/{pid}/root/bin/busybox")).exists()

    out = ctrd("task", "exec", "--exec-id", "e1", "--fifo-dir", str(ctrd.fifos), cid, "sh", "-c",
               "echo in-exec; cat /proc/self/cgroup; exit 4", check=False)
    assert out.returncode == 4, out.stderr
    assert out.stdout.startswith("in-exec\n") and f"/{ctrd.ns}/{cid}" in out.stdout
    out = ctrd("task", "exec", "--exec-id", "e2", "--fifo-dir", str(ctrd.fifos), cid, "/no-such-program", check=False)
    assert out.returncode != 0 and "/no-such-program" in out.stderr, out.stderr
    assert [int(r.split()[0]) for r in ctrd("task", "ps", cid).stdout.splitlines()[1:]] == [pid]
    assert "pids" in ctrd("task", "metrics", cid).stdout  # the shim reads the cgroup pyrunc-oci made

    ctrd("task", "pause", cid)
    assert ctrd.tasks()[cid][1] == "PAUSED"
    if _cgroup_v2():
        assert "frozen 1" in (groups[0] / "cgroup.events").read_text()
    else:
        assert (CGROUP / "freezer" / ctrd.ns / cid / "freezer.state").read_text().strip() == "FROZEN"
    ctrd("task", "resume", cid)
    assert ctrd.tasks()[cid][1] == "RUNNING"

    # The shim's Update calls `update --resources -` with the spec's linux.resources on stdin (ctr has no
    # verb for it): the same call here, on the container containerd made.
    limit = 64 << 20
    assert _oci(ctrd, "update", "--resources", "-", cid, stdin=json.dumps({"memory": {"limit": limit}})).returncode == 0
    memory = groups[0] / "memory.max" if _cgroup_v2() else CGROUP / "memory" / ctrd.ns / cid / "memory.limit_in_bytes"
    assert int(memory.read_text()) == limit

    ctrd("task", "kill", "--signal", "KILL", cid)
    poll("the task to stop", lambda: ctrd.tasks()[cid][1] == "STOPPED")
    # The shim kills what is left of a stopped container with `kill --all ID 9`: that succeeds, as runc's.
    assert _oci(ctrd, "kill", "--all", cid, "KILL").returncode == 0
    ctrd("task", "delete", cid)
    ctrd("container", "delete", cid)
    _gone(ctrd, cid, pid, start)
    verbs = [c[0] for c in ctrd.verbs(cid)]
    assert verbs[:2] == ["create", "start"] and {"exec", "ps", "pause", "resume", "kill", "delete"} <= set(verbs)
    # the shim's pid file of an exec is <bundle>/<exec id>.pid (the bundle's path may hold "e1" too: random names)
    (exec_call,) = [c for c in ctrd.verbs(cid)
                    if c[0] == "exec" and os.path.basename(c[c.index("--pid-file") + 1]) == "e1.pid"]
    assert exec_call[1:3] == ["--process", exec_call[2]] and "--detach" in exec_call, exec_call
    assert ["ps", "--format", "json", cid] in ctrd.verbs(cid) and ["kill", cid, "9"] in ctrd.verbs(cid)
    # The shim's cleanup after it lost its task runs `delete --force` of a container that may be gone:
    # that succeeds, as with runc.
    assert _oci(ctrd, "delete", "--force", cid).returncode == 0


def test_with_a_terminal(ctrd: Containerd) -> None:
    code, text = _through_a_terminal(
        ctrd.argv("run", "--rm", "--tty", *ctrd.run_flags("tty1"), IMAGE, "tty1", "sh", "-c",
                  "tty; echo ready; read l; echo got=$l; exit 2"), b"hello\n", b"ready")
    assert code == 2, text
    assert b"/dev/pts/" in text and b"got=hello" in text
    assert "--console-socket" in ctrd.verbs("tty1")[0], ctrd.verbs("tty1")
    cid = "tty2"
    ctrd("run", "--detach", *ctrd.run_flags(cid), IMAGE, cid, "sleep", "300")
    pid = ctrd.tasks()[cid][0]
    start = (proc_stat(pid) or ("", 0))[1]
    # (ctr resizes the pty once more after the process exits and logs an error for it: runc's too.)
    code, text = _through_a_terminal(
        ctrd.argv("task", "exec", "--tty", "--exec-id", "t1", "--fifo-dir", str(ctrd.fifos), cid, "sh", "-c",
                  "tty; echo ready; read l; echo got=$l; exit 6"), b"there\n", b"ready")
    assert code == 6, text
    assert b"/dev/pts/" in text and b"got=there" in text
    ctrd.remove(cid)
    _gone(ctrd, cid, pid, start)


@pytest.fixture
def cri_ctrd(tmp_path: Path) -> Iterator[Containerd]:
    (tmp_path / "cri").mkdir()
    c = Containerd(tmp_path / "cri", cri=True)
    try:
        # The sandbox's image stays up as pause does (`sleep`, pid 1 of its own pid namespace).
        c.import_image(tmp_path / "image", {PAUSE: ["sleep", "1000000"], IMAGE: ["sh"]}, ns=CRI_NS)
        yield c
    finally:
        c.close()
    assert not c.shims(), "a shim of the test's containerd is left"
    assert not _cgroup_dirs(c.ns), "the pods' cgroup parent is left"


def test_the_cri_plugin_with_binary_name_runs_pods_through_pyrunc_oci(cri_ctrd: Containerd, tmp_path: Path) -> None:
    """What a kubelet would do, through containerd's CRI plugin configured with `BinaryName` (docs/oci.md)."""
    grpc = pytest.importorskip("grpc")
    from pyrunc.cri import codegen

    codegen.ensure()
    from pyrunc.cri import api_pb2 as pb, api_pb2_grpc

    channel = grpc.insecure_channel(f"unix://{cri_ctrd.sock}")
    rt = api_pb2_grpc.RuntimeServiceStub(channel)
    logs = tmp_path / "logs"
    logs.mkdir()
    # The node's network and uts namespaces, so no hostname (runc refuses one without a uts namespace too).
    sandbox = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="web", uid="6f1c9a52-ctrd-test", namespace="default", attempt=0),
        log_directory=str(logs),
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=f"/{cri_ctrd.ns}", security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD))))
    try:
        sid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=sandbox)).pod_sandbox_id
        config = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="c", attempt=0), image=pb.ImageSpec(image=IMAGE),
            command=["sh", "-c", "echo started; exec sleep 1000"], log_path="c.log",
            linux=pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(memory_limit_in_bytes=128 << 20)))
        cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sid, config=config,
                                                           sandbox_config=sandbox)).container_id
        rt.StartContainer(pb.StartContainerRequest(container_id=cid))
        info = json.loads(rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid, verbose=True)).info["info"])
        pid = int(info["pid"])
        start = (proc_stat(pid) or ("", 0))[1]
        # pyrunc-oci made both (the shim's --root: the options' Root / k8s.io).
        for one in (sid, cid):
            assert (cri_ctrd.state_root / one / "state.json").exists(), one
        state = json.loads(_oci(cri_ctrd, "state", cid).stdout)
        assert state["pid"] == pid and state["status"] == "running"
        assert pid in _procs(_cgroup_dirs(cri_ctrd.ns, cid)[0])
        poll("the container's log", lambda: (logs / "c.log").exists() and "stdout F started" in (logs / "c.log").read_text())

        out = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo in-exec; exit 3"], timeout=int(WAIT)))
        assert (out.exit_code, out.stdout) == (3, b"in-exec\n")
        # UpdateContainerResources: the shim's `update --resources -`.
        rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=pb.LinuxContainerResources(memory_limit_in_bytes=96 << 20)))
        group = _cgroup_dirs(cri_ctrd.ns, cid)[0] if _cgroup_v2() else CGROUP / "memory" / cri_ctrd.ns / cid
        assert int((group / ("memory.max" if _cgroup_v2() else "memory.limit_in_bytes")).read_text()) == 96 << 20
        assert ["update", "--resources", "-", cid] in cri_ctrd.verbs(cid)

        rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=1))
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=cid))
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
        _gone(cri_ctrd, cid, pid, start)
        assert not (cri_ctrd.state_root / sid).exists()
        assert not cri_ctrd.shims()
    finally:
        for item in rt.ListPodSandbox(pb.ListPodSandboxRequest()).items:
            rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=item.id))
            rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=item.id))
        channel.close()


@pytest.mark.skipif(len(Path("/proc/swaps").read_text().splitlines()) > 1,
                    reason="swap is on: ctr's --memory-limit leaves swap unlimited, the hog would swap, not be killed")
def test_an_oom_kill_reaches_containerd(ctrd: Containerd) -> None:
    """ctr's --memory-limit, written by pyrunc-oci into the container's cgroup, kills the hog; the shim,
    watching the init's cgroup, publishes /tasks/oom and the task exits 137."""
    events = subprocess.Popen([CTR or "ctr", "--address", str(ctrd.sock), "events"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    stream = events.stdout
    assert stream is not None
    seen: list[str] = []

    def subscribed() -> bool:
        # `ctr events` prints nothing until an event: make one (a namespace label) until it shows up.
        ctrd("namespaces", "label", ctrd.ns, f"ping={len(seen)}")
        while select.select([stream], [], [], 0.2)[0]:
            seen.append(stream.readline())
            if "/namespaces/update" in seen[-1]:
                return True
        return False

    try:
        poll("ctr events to listen", subscribed)
        out = ctrd("run", "--rm", "--memory-limit", str(32 << 20), *ctrd.run_flags("oom1"), IMAGE, "oom1",
                   "sh", "-c", "echo start; tail /dev/zero", check=False)
        assert out.returncode == 137 and out.stdout == "start\n", out
    finally:
        events.terminate()
        seen += events.communicate(timeout=WAIT)[0].splitlines()
    oom = [line for line in seen if "/tasks/oom" in line]
    assert oom and ctrd.ns in oom[0], seen

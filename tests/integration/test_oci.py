"""pyrunc-oci through its real command line, on bundles built from the busybox rootfs, each area seen from the
host (/proc/PID/status, /proc/PID/ns, mountinfo, cgroupfs), and where behaviour must match, the same bundle
run with Debian's runc and compared field by field. Every test's --root is its own; teardown checks that
nothing is left (state directories, cgroups, processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.helpers import WAIT, alive, mounts_under, ns_id, poll
from tests.imagekit import busybox_rootfs

pytestmark = [pytest.mark.root]
PYRUNC_OCI = [sys.executable, "-m", "pyrunc.oci"]
RUNC = shutil.which("runc")
needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed (scripts/setup.sh --test installs it)")
SLEEP = ["sleep", "3600"]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_rootfs(tmp_path_factory.mktemp("oci-busybox"))


def base_config(rootfs: Path, args: list[str]) -> dict[str, Any]:
    from pyrunc.oci.defaults import default_spec

    doc = default_spec()
    doc["root"]["path"] = str(rootfs)
    doc["process"]["terminal"] = False
    doc["process"]["args"] = args
    return doc


class Oci:
    """One test's runtime roots (ours and runc's), bundles and the ids it made."""

    def __init__(self, tmp: Path, rootfs: Path) -> None:
        self.tmp, self.rootfs = tmp, rootfs
        self.root = tmp / "state"
        self.runc_root = tmp / "runc-state"
        self.ids: set[str] = set()
        self.serial = 0

    def bundle(self, args: list[str], edit: Any = None) -> Path:
        self.serial += 1
        where = self.tmp / f"bundle{self.serial}"
        where.mkdir()
        doc = base_config(self.rootfs, args)
        if edit is not None:
            edit(doc)
        (where / "config.json").write_text(json.dumps(doc))
        return where

    def __call__(self, *args: str, check: bool = True, runc: bool = False, **kw: Any) -> subprocess.CompletedProcess:
        cmd = [RUNC or "runc", "--root", str(self.runc_root)] if runc else [*PYRUNC_OCI, "--root", str(self.root)]
        kw.setdefault("timeout", WAIT)
        kw.setdefault("stdin", subprocess.DEVNULL)
        # Files, not pipes: a created container's init keeps the runtime's stdio (as runc's does), so a pipe
        # would see no EOF while it lives.
        with open(self.tmp / "out", "w+") as so, open(self.tmp / "err", "w+") as se:
            done = subprocess.run([*cmd, *args], stdout=so, stderr=se, **kw)
            so.seek(0)
            se.seek(0)
            out = subprocess.CompletedProcess(done.args, done.returncode, so.read(), se.read())
        if check:
            assert out.returncode == 0, out.stderr
        return out

    def create(self, cid: str, bundle: Path, *extra: str, runc: bool = False) -> int:
        self.ids.add(cid)
        self("create", "--bundle", str(bundle), *extra, cid, runc=runc)
        return int(self.state(cid, runc=runc)["pid"])

    def run_detached(self, cid: str, bundle: Path, runc: bool = False) -> int:
        self.ids.add(cid)
        self("run", "--detach", "--bundle", str(bundle), cid, runc=runc)
        return int(self.state(cid, runc=runc)["pid"])

    def state(self, cid: str, runc: bool = False) -> dict[str, Any]:
        return json.loads(self("state", cid, runc=runc).stdout)


@pytest.fixture
def oci(tmp_path: Path, rootfs: Path) -> Iterator[Oci]:
    o = Oci(tmp_path, rootfs)
    yield o
    for runc in (False, True):
        if runc and RUNC is None:
            continue
        for cid in o.ids:
            o("delete", "--force", cid, check=False, runc=runc)
    assert mounts_under(str(tmp_path)) == []
    leftovers = os.listdir(o.root) if o.root.exists() else []
    assert leftovers == [], f"state left behind: {leftovers}"
    for cid in o.ids:
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            assert not (hierarchy / cid).exists(), f"cgroup left behind: {hierarchy / cid}"


def hello_through(master: int) -> bytes:
    """Talk to a container's `read` loop through its pty master: wait for "ready", type "hello", wait for its
    answer "got=hello"; everything the terminal showed. The master is closed."""
    text = b""
    while b"ready" not in text:
        text += os.read(master, 1024)
    os.write(master, b"hello\n")
    while b"got=hello" not in text:
        text += os.read(master, 1024)
    os.close(master)
    return text


def status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def mount_table(pid: int) -> list[tuple[str, str, str, str]]:
    """(mount point, mount options, fstype, source) of every mount the process sees, sorted."""
    rows = []
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, source = right.split()[:2]
        rows.append((fields[4], fields[5], fstype, source))
    return sorted(rows)


def container_cgroup(pid: int, controller: str) -> Path:
    """The host path of the process's group in `controller`'s hierarchy (v2: the unified one)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",")
        if controller in names or (controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists()):
            base = Path("/sys/fs/cgroup") if controllers == "" else Path("/sys/fs/cgroup") / (
                controller if (Path("/sys/fs/cgroup") / controller).exists() else controllers)
            return base / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for {pid}")


# ------------------------------------------------------------------------------------------ life cycle
def test_lifecycle_and_its_errors(oci: Oci) -> None:
    bundle = oci.bundle(SLEEP, lambda d: d.update(annotations={"org.example.key": "value"}))
    pid_file = oci.tmp / "pid"
    pid = oci.create("c1", bundle, "--pid-file", str(pid_file))
    assert pid_file.read_text() == str(pid)
    st = oci.state("c1")
    assert st["status"] == "created" and st["id"] == "c1" and st["bundle"] == str(bundle)
    assert st["annotations"] == {"org.example.key": "value"} and st["ociVersion"].startswith("1.0.")
    assert alive(pid)
    # The only process of the container is its init: nothing of pyrunc stays (ours is gone, the init's
    # parent is not a pyrunc process).
    parent = int(status(pid)["PPid"])
    assert "pyrunc" not in Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
    assert [line for line in oci("list").stdout.splitlines() if line.startswith("c1 ")][0].split()[2] == "created"
    assert json.loads(oci("list", "--format", "json").stdout)[0]["status"] == "created"

    oci("start", "c1")
    assert oci.state("c1")["status"] == "running"
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
    again = oci("start", "c1", check=False)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "running" in again.stderr
    refused = oci("delete", "c1", check=False)
    assert refused.returncode == 1 and "not stopped: running" in refused.stderr
    exists = oci("create", "--bundle", str(bundle), "c1", check=False)
    assert exists.returncode == 1 and "exists" in exists.stderr

    oci("kill", "c1", "KILL")
    poll("the container to stop", lambda: oci.state("c1")["status"] == "stopped")
    stopped = oci("kill", "c1", "TERM", check=False)
    assert stopped.returncode == 1
    oci("delete", "c1")
    gone = oci("state", "c1", check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr


def test_delete_of_a_created_container_and_force(oci: Oci) -> None:
    pid = oci.create("c2", oci.bundle(SLEEP))
    oci("delete", "c2")
    poll("the created init to go", lambda: not alive(pid))
    pid = oci.run_detached("c3", oci.bundle(SLEEP))
    oci("delete", "--force", "c3")
    assert not alive(pid)


@needs_runc
def test_kill_all_and_delete_force_of_stopped_and_gone_containers_as_runc(oci: Oci) -> None:
    # containerd's shim relies on both: `kill --all ID 9` once the init exited, `delete --force ID` in its
    # cleanup when the container may be gone already.
    bundle = oci.bundle(["true"])
    oci.ids.add("ka")
    for runc in (False, True):
        oci("run", "--detach", "--bundle", str(bundle), "ka", runc=runc)
        poll("the container to stop", lambda: oci.state("ka", runc=runc)["status"] == "stopped")
        assert oci("kill", "ka", "KILL", check=False, runc=runc).returncode == 1
        oci("kill", "--all", "ka", "KILL", runc=runc)
        oci("delete", "ka", runc=runc)
        oci("delete", "--force", "ka", runc=runc)
        assert oci("delete", "ka", check=False, runc=runc).returncode == 1


def test_what_a_killed_create_left_is_deleted(oci: Oci) -> None:
    """A create killed half-way leaves its directory (no state.json, the lock free) and its cgroup, noted in
    cgroups.json: it shows as stopped and delete removes both."""
    from pyrunc.oci import cgroup, config

    version, hierarchies = cgroup.host_version()
    groups = cgroup.create(version, hierarchies, "half", config.Resources())
    oci.ids.add("half")
    (oci.root / "half").mkdir(parents=True)
    (oci.root / "half" / "cgroups.json").write_text(json.dumps(groups))
    assert oci.state("half")["status"] == "stopped"
    oci("delete", "half")
    assert not any(Path(p).exists() for p in groups.values())


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["mounts"].append({"destination": "/x", "type": "nfs", "source": "x"}), "mounts[7].type"),
    (lambda d: d["linux"].update(intelRdt={"closID": "x"}), "linux.intelRdt:"),
    (lambda d: d["process"].update(args=["no-such-program"]), 'exec: "no-such-program": executable file not found'),
    (lambda d: d["mounts"].append({"destination": "/x", "type": "bind", "source": "/no/such/dir"}), "/x"),
    (lambda d: d["linux"].update(cgroupsPath="/pyrunc-oci-test-bad/x",
                                 resources={"memory": {"limit": 1}, "devices": [{"allow": False, "access": "rwm"}]}),
     "memory"),
])
def test_create_errors_are_one_line_and_leave_nothing(oci: Oci, edit: Any, words: str) -> None:
    out = oci("create", "--bundle", str(oci.bundle(SLEEP, edit)), "bad", check=False)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ") and words in out.stderr, out.stderr
    assert not (oci.root / "bad").exists()
    assert not any((h / "bad").exists() for h in Path("/sys/fs/cgroup").iterdir())
    assert not any((h / "pyrunc-oci-test-bad" / "x").exists() for h in Path("/sys/fs/cgroup").iterdir())
    for h in Path("/sys/fs/cgroup").iterdir():
        if (h / "pyrunc-oci-test-bad").exists():
            (h / "pyrunc-oci-test-bad").rmdir()  # a parent made on the way, as runc leaves it too


def test_run_exit_statuses_and_output(oci: Oci) -> None:
    for cid, args, code in (("e7", ["sh", "-c", "echo out; echo err >&2; exit 7"], 7),
                            ("e0", ["true"], 0)):
        oci.ids.add(cid)
        out = oci("run", "--bundle", str(oci.bundle(args)), cid, check=False)
        assert out.returncode == code, out.stderr
        if cid == "e7":
            assert out.stdout == "out\n" and out.stderr == "err\n"
        assert not (oci.root / cid).exists()  # run deletes the container once it has ended


def test_run_loads_none_of_the_heavy_modules(oci: Oci) -> None:
    """A real `run`, started as the launcher starts it (-I -S), with Python's import log on: neither the command
    nor its init (which logs to the same stderr until it execs) loads what docs/performance.md took off."""
    oci.ids.add("light")
    repo = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.insert(0, {repo!r}); from pyrunc.oci.cli import console; console()"
    done = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code, "--root", str(oci.root),
                           "run", "--bundle", str(oci.bundle(["true"])), "light"], capture_output=True, text=True,
                          timeout=WAIT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pyrunc.oci.init" in loaded and "pyrunc.security.process" in loaded  # the log is the run's
    heavy = {"dataclasses", "inspect", "typing", "re", "json", "enum", "pyrunc.runtime.config", "socket",
             "ctypes"} & loaded
    assert not heavy, sorted(heavy)


def test_run_of_a_killed_container_exits_128_plus_the_signal(oci: Oci) -> None:
    oci.ids.add("k9")
    cmd = [*PYRUNC_OCI, "--root", str(oci.root), "run", "--bundle", str(oci.bundle(SLEEP)), "k9"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll("the container to run", lambda: (oci.root / "k9" / "state.json").exists()
             and oci.state("k9")["status"] == "running")
        oci("kill", "k9", "KILL")
        assert proc.wait(WAIT) == 137
    finally:
        proc.kill()
        proc.wait()
    assert not (oci.root / "k9").exists()


def test_run_forwards_signals_to_the_container(oci: Oci) -> None:
    oci.ids.add("fw")
    bundle = oci.bundle(["sh", "-c", "trap 'exit 5' TERM; while :; do sleep 0.1; done"])
    cmd = [*PYRUNC_OCI, "--root", str(oci.root), "run", "--bundle", str(bundle), "fw"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll("the container to run", lambda: (oci.root / "fw" / "state.json").exists()
             and oci.state("fw")["status"] == "running")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 5
    finally:
        proc.kill()
        proc.wait()


def test_verb_errors(oci: Oci) -> None:
    for args, words in ((["start", "nope"], "container nope does not exist"),
                        (["kill", "nope", "KILL"], "does not exist"),
                        (["delete", "../x"], "container id: invalid id format"),
                        (["state"], "the following arguments are required: id")):
        out = oci(*args, check=False)
        assert out.returncode == 1 and out.stderr.count("\n") == 1 and words in out.stderr, out.stderr
    oci.create("ks", oci.bundle(SLEEP))
    out = oci("kill", "ks", "SIGNOPE", check=False)
    assert out.returncode == 1 and "signal: unknown signal 'SIGNOPE'" in out.stderr


@needs_runc
def test_run_exit_statuses_match_runc(oci: Oci) -> None:
    bundle = oci.bundle(["sh", "-c", "exit 3"])
    ours = oci("run", "--bundle", str(bundle), "m1", check=False)
    theirs = oci("run", "--bundle", str(bundle), "m1", check=False, runc=True)
    assert ours.returncode == theirs.returncode == 3


def test_preserve_fds(oci: Oci) -> None:
    r, w = os.pipe()
    bundle = oci.bundle(["sh", "-c", "echo through-3 >&3"])
    oci.ids.add("pf")
    try:
        cmd = [*PYRUNC_OCI, "--root", str(oci.root), "run", "--preserve-fds", "1", "--bundle", str(bundle), "pf"]
        # The write end becomes the runtime's descriptor 3, as a caller of runc passes it.
        write_end = w
        subprocess.run(cmd, preexec_fn=lambda: os.dup2(write_end, 3), pass_fds=(3,), check=True, timeout=WAIT,
                       stdin=subprocess.DEVNULL)
        os.close(w)
        w = -1
        assert os.read(r, 100) == b"through-3\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


# ------------------------------------------------------------------------------------------ isolation
def test_namespaces_new_and_joined(oci: Oci) -> None:
    first = oci.run_detached("n1", oci.bundle(SLEEP))
    for kind in ("mnt", "net", "ipc", "uts", "pid"):
        assert ns_id(first, kind) != ns_id("self", kind), kind
    assert ns_id(first, "cgroup") == ns_id("self", "cgroup")  # not asked for

    def join(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"] = [{"type": "mount"}, {"type": "pid", "path": f"/proc/{first}/ns/pid"},
                                      {"type": "uts"}, {"type": "ipc", "path": f"/proc/{first}/ns/ipc"},
                                      {"type": "network", "path": f"/proc/{first}/ns/net"}, {"type": "cgroup"}]
        doc["hostname"] = "second"

    second = oci.run_detached("n2", oci.bundle(SLEEP, join))
    for kind in ("net", "pid", "ipc"):
        assert ns_id(second, kind) == ns_id(first, kind), kind
    assert ns_id(second, "uts") != ns_id(first, "uts")
    assert ns_id(second, "cgroup") != ns_id("self", "cgroup")
    out = subprocess.run(["nsenter", "-t", str(second), "-u", "hostname"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "second"


@needs_runc
def test_process_security_matches_runc(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"]
        doc["process"]["capabilities"] = {"bounding": caps + ["CAP_SYS_ADMIN"], "effective": caps, "permitted": caps,
                                          "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
        doc["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 0o027}
        doc["process"]["noNewPrivileges"] = False
        doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 900},
                                     {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}]
        doc["process"]["oomScoreAdj"] = 123

    bundle = oci.bundle(SLEEP, edit)
    ours = oci.run_detached("s1", bundle)
    theirs = oci.run_detached("s1", bundle, runc=True)
    a, b = status(ours), status(theirs)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Uid", "Gid", "Groups",
                "Umask"):
        assert a[key] == b[key], key
    assert a["Uid"].split()[0] == "1000" and a["CapAmb"] != "0000000000000000"
    limits = [Path(f"/proc/{p}/limits").read_text().splitlines() for p in (ours, theirs)]
    assert [x for x in limits[0] if "open files" in x or "processes" in x] == \
           [x for x in limits[1] if "open files" in x or "processes" in x]
    assert Path(f"/proc/{ours}/oom_score_adj").read_text() == Path(f"/proc/{theirs}/oom_score_adj").read_text()
    assert set(oci.state("s1")) == set(oci.state("s1", runc=True))
    assert oci.state("s1")["ociVersion"] == oci.state("s1", runc=True)["ociVersion"]


@needs_runc
@pytest.mark.parametrize("uid", [0, 4242])
def test_environment_matches_runc(oci: Oci, uid: int) -> None:
    bundle = oci.bundle(["env"], lambda d: d["process"]["user"].update(uid=uid))
    oci.ids.add("env")
    ours, theirs = oci("run", "--bundle", str(bundle), "env"), oci("run", "--bundle", str(bundle), "env", runc=True)
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
    assert "HOME=" in ours.stdout


@needs_runc
def test_mounts_masks_and_readonly_root_match_runc(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        data = oci.tmp / "data"
        data.mkdir(exist_ok=True)
        doc["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "ro", "nosuid"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=1777"]},
        ]

    bundle = oci.bundle(SLEEP, edit)
    ours = oci.run_detached("m1", bundle)
    theirs = oci.run_detached("m1", bundle, runc=True)
    a, b = mount_table(ours), mount_table(theirs)
    assert a == b
    points = {row[0]: row for row in a}
    assert points["/"][1].startswith("ro,") and points["/data"][1].startswith("ro,nosuid")
    assert points["/proc/keys"][2] == "tmpfs" and points["/proc/sys"][1].startswith("ro,")
    # masked for the container: /proc/keys is the container's /dev/null
    out = subprocess.run(["nsenter", "-t", str(ours), "-m", "-p", "cat", "/proc/keys"], capture_output=True)
    assert out.returncode == 0 and out.stdout == b""


def test_hostname_sysctl_devices_and_domainname(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["hostname"] = "box"
        doc["domainname"] = "example.test"
        doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        doc["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640}]

    bundle = oci.bundle(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname; cat /proc/sys/net/ipv4/ip_forward; "
                               "ls -ln /dev/fuse; pwd"], lambda d: (edit(d), d["process"].update(cwd="/made/here")))
    oci.ids.add("h1")
    out = oci("run", "--bundle", str(bundle), "h1")
    lines = out.stdout.splitlines()
    assert lines[:3] == ["box", "example.test", "1"]
    assert lines[3].startswith("crw-r-----") and "10, 229" in lines[3]
    assert lines[4] == "/made/here"  # a missing cwd is made, as runc makes it (the root is read-only after)


def test_seccomp_from_the_config(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                         {"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]}]}
        doc["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})

    bundle = oci.bundle(["sh", "-c", "mkdir /tmp/a; echo mkdir=$?; touch /tmp/f; chmod 777 /tmp/f; echo c777=$?; "
                               "chmod 700 /tmp/f; echo c700=$?; grep Seccomp: /proc/self/status"], edit)
    oci.ids.add("sc")
    out = oci("run", "--bundle", str(bundle), "sc")
    assert "mkdir=1" in out.stdout and "c777=1" in out.stdout and "c700=0" in out.stdout
    assert "Seccomp:\t2" in out.stdout


def test_cgroup_resources_seen_in_cgroupfs(oci: Oci) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["linux"]["cgroupsPath"] = "/pyrunc-oci-t-r1"
        doc["linux"]["resources"].update(memory={"limit": 64 << 20}, cpu={"shares": 512, "quota": 20000, "period": 100000},
                                         pids={"limit": 33})

    pid = oci.run_detached("r1", oci.bundle(SLEEP, edit))
    oci.ids.add("pyrunc-oci-t-r1")
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        group = Path("/sys/fs/cgroup/pyrunc-oci-t-r1")
        assert (group / "memory.max").read_text().strip() == str(64 << 20)
        assert (group / "cpu.max").read_text().strip() == "20000 100000"
        assert (group / "pids.max").read_text().strip() == "33"
    else:
        assert container_cgroup(pid, "memory") == Path("/sys/fs/cgroup/memory/pyrunc-oci-t-r1")
        assert (container_cgroup(pid, "memory") / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        assert (container_cgroup(pid, "cpu") / "cpu.cfs_quota_us").read_text().strip() == "20000"
        assert (container_cgroup(pid, "cpu") / "cpu.shares").read_text().strip() == "512"
        assert (container_cgroup(pid, "pids") / "pids.max").read_text().strip() == "33"
        devices = (Path("/sys/fs/cgroup/devices/pyrunc-oci-t-r1") / "devices.list").read_text().split("\n")
        assert "c 1:3 rwm" in devices and "a *:* rwm" not in devices
    oci("kill", "--all", "r1", "KILL")
    poll("the container to stop", lambda: oci.state("r1")["status"] == "stopped")


def _keyring(name: str) -> str | None:
    """The perm field of the keyring `name` in the host's /proc/keys (root sees root's keyrings), or None."""
    for line in Path("/proc/keys").read_text().splitlines():
        if f" {name}:" in line:
            return line.split()[4]
    return None


def test_session_keyring_no_new_keyring_and_no_pivot(oci: Oci) -> None:
    tag = os.urandom(3).hex()
    oci.run_detached(f"key{tag}", oci.bundle(SLEEP))
    assert _keyring(f"_ses.key{tag}") == "3f1b0000"  # runc's permissions (checked against it below)
    oci.ids.add(f"nokey{tag}")
    oci("run", "--detach", "--no-new-keyring", "--bundle", str(oci.bundle(SLEEP)), f"nokey{tag}")
    assert _keyring(f"_ses.nokey{tag}") is None
    oci.ids.add(f"np{tag}")
    out = oci("run", "--no-pivot", "--bundle", str(oci.bundle(["sh", "-c", "ls /; cat /proc/self/mountinfo"])),
              f"np{tag}")
    assert "bin" in out.stdout.split()
    # moved onto / (MS_MOVE) instead of pivoted: the mount at / is the bundle's root directory
    tops = [line.split() for line in out.stdout.splitlines() if len(line.split()) > 5 and line.split()[4] == "/"]
    assert any(fields[3] == str(oci.rootfs) for fields in tops), out.stdout
    if RUNC is not None:
        oci.run_detached(f"rkey{tag}", oci.bundle(SLEEP), runc=True)
        assert _keyring(f"_ses.rkey{tag}") == _keyring(f"_ses.key{tag}")


def test_oom_score_adj_is_clamped_when_root_cannot_lower_it(oci: Oci) -> None:
    pid = oci.run_detached("oom", oci.bundle(SLEEP, lambda d: d["process"].update(oomScoreAdj=-500)))
    capable = int(status(os.getpid())["CapEff"], 16) >> 24 & 1  # CAP_SYS_RESOURCE
    assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == ("-500" if capable else "0")


# ------------------------------------------------------------------------------------------ terminal
def test_console_socket_gets_a_real_pty(oci: Oci) -> None:
    path = str(oci.tmp / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def edit(doc: dict[str, Any]) -> None:
        doc["process"]["terminal"] = True
        doc["process"]["args"] = ["sh", "-c", "tty; stty size; echo ready; read line; echo got=$line"]
        doc["process"]["consoleSize"] = {"height": 30, "width": 100}

    bundle = oci.bundle([], edit)
    oci.ids.add("tty")
    proc = subprocess.Popen([*PYRUNC_OCI, "--root", str(oci.root), "create", "--bundle", str(bundle),
                             "--console-socket", path, "tty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = listener.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    listener.close()
    assert proc.wait(WAIT) == 0, proc.stderr.read() if proc.stderr else ""
    (master,) = fds
    import termios

    assert os.isatty(master) and termios.tcgetattr(master)
    oci("start", "tty")
    text = hello_through(master)
    lines = text.decode().splitlines()
    assert lines[0].startswith("/dev/") and "30 100" in lines
    poll("the container to stop", lambda: oci.state("tty")["status"] == "stopped")


def test_terminal_without_console_socket_is_refused(oci: Oci) -> None:
    bundle = oci.bundle(SLEEP, lambda d: d["process"].update(terminal=True))
    out = oci("create", "--bundle", str(bundle), "t0", check=False)
    assert out.returncode == 1 and "console socket" in out.stderr
    assert not (oci.root / "t0").exists()


# ------------------------------------------------------------------------------------------ other verbs
@needs_runc
def test_spec_is_runcs_and_features_and_version(oci: Oci) -> None:
    ours, theirs = oci.tmp / "ours", oci.tmp / "theirs"
    ours.mkdir()
    theirs.mkdir()
    oci("spec", "--bundle", str(ours))
    subprocess.run([RUNC or "runc", "spec"], cwd=theirs, check=True)
    assert json.loads((ours / "config.json").read_text()) == json.loads((theirs / "config.json").read_text())
    again = oci("spec", "--bundle", str(ours), check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    rootless = oci("spec", "--rootless", "--bundle", str(theirs), check=False)
    assert rootless.returncode == 1 and "rootless" in rootless.stderr
    features = json.loads(oci("features").stdout)
    assert features["ociVersionMin"] == "1.0.0" and "mount" in features["linux"]["namespaces"]
    theirs_features = subprocess.run([RUNC or "runc", "features"], capture_output=True, text=True)
    if theirs_features.returncode == 0:  # runc >= 1.1 has it: the same document's shape
        reference = json.loads(theirs_features.stdout)
        assert set(features) == set(reference) and set(reference["linux"]) <= set(features["linux"])
        # idmap and ridmap came with runc 1.2 (Debian's is 1.1).
        assert set(features["mountOptions"]) - {"idmap", "ridmap"} <= set(reference["mountOptions"])
    version = oci("--version").stdout.splitlines()
    assert version[0].startswith("pyrunc-oci version ") and version[1].startswith("spec: 1.0")
    systemd = oci("--systemd-cgroup", "list", check=False)
    assert systemd.returncode == 1 and "systemd" in systemd.stderr


def test_log_file_in_json(oci: Oci) -> None:
    log = oci.tmp / "log.json"
    out = oci("--log", str(log), "--log-format", "json", "state", "nope", check=False)
    assert out.returncode == 1
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]


def test_pyrunc_oci_verb_forwards(oci: Oci) -> None:
    out = subprocess.run([sys.executable, "-m", "pyrunc", "oci", "--root", str(oci.root), "list", "-q"],
                         capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0 and out.stdout == ""

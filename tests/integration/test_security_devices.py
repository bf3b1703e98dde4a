"""The device cgroup of containers, looked at from the host and tried from inside (issue 8).

One pod with an ordinary container and a privileged one. Each test runs once per cgroup version:
the `v1` case here (cgroup v1: devices.list), the `v2` case (cgroup v2: the BPF program attached to
the container's group) in the QEMU guest through the `cgroup2` marker, or natively on a v2 host; the
case for the version the host does not have skips. `network: none`, so the guest can run it.

The attack: a container with CAP_MKNOD (in containerd's default set) creates a node for the host's
root disk and reads it. mknod is allowed (runc allows `m` on every device), opening is not.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.cgroups import detect
from pyrunc.cgroups.devices import container_rules, device_program
from tests.integration.helpers import Node, pod_yaml, poll

pytestmark = pytest.mark.root

WAIT = 120.0  # seconds; generous for the guest under TCG, never a duration assertion
POD = "devices"
VERSIONS = [pytest.param(1, id="v1"), pytest.param(2, id="v2", marks=pytest.mark.cgroup2)]

# runc 1.1's allow-list as cgroup v1 shows it, after `devices.deny a`.
ALLOW_LIST = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
              "c 5:0 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"}
# What /dev of an ordinary container holds: runc's default nodes and links, devpts, shm, mqueue, and
# the kubelet's termination-log file.
DEV_ENTRIES = {"core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
               "stdout", "termination-log", "tty", "urandom", "zero"}


def host_disk() -> tuple[int, int]:
    """major:minor of the block device holding the host's "/" (else the first disk with a size)."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/" and Path("/sys/dev/block", fields[2]).exists():
                major, minor = fields[2].split(":")
                return int(major), int(minor)
    for entry in sorted(Path("/sys/dev/block").iterdir()):
        if "/virtual/" not in os.readlink(entry) and int((entry / "size").read_text()) > 0:
            major, minor = entry.name.split(":")
            return int(major), int(minor)
    pytest.skip("no block device on this host")


MARKER = b"pyrunc-device-marker"


LOOP_CTL_GET_FREE, LOOP_SET_FD, LOOP_CLR_FD = 0x4C82, 0x4C00, 0x4C01  # linux/loop.h
LOOP_MAJOR, MISC_MAJOR, LOOP_CTRL_MINOR = 7, 10, 237


def _free_loop(control: Path) -> int:
    with open(control, "rb") as ctl:
        return fcntl.ioctl(ctl, LOOP_CTL_GET_FREE)


@pytest.fixture(scope="module")
def loop_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """A loop device over a file that starts with MARKER: a block device of the host that the host
    itself can certainly read (some hosts refuse even root a raw read of their root disk).

    Set up with the loop ioctls through nodes made in a temp dir, not losetup: the QEMU guest's /dev
    has no loop nodes although the driver is built in.
    """
    work = tmp_path_factory.mktemp("loop")
    backing = work / "disk.img"
    backing.write_bytes(MARKER + bytes(64 * 1024 - len(MARKER)))
    control = work / "loop-control"
    os.mknod(control, 0o600 | stat.S_IFCHR, os.makedev(MISC_MAJOR, LOOP_CTRL_MINOR))
    try:
        number = _free_loop(control)
    except OSError:
        # loop may be a module nothing has loaded yet (a bare guest without udev or systemd).
        subprocess.run(["modprobe", "loop"], capture_output=True, check=False)
        try:
            number = _free_loop(control)
        except OSError as e:
            pytest.skip(f"no loop devices on this host: {e}")
    device = work / f"loop{number}"
    os.mknod(device, 0o600 | stat.S_IFBLK, os.makedev(LOOP_MAJOR, number))
    with open(device, "rb") as loop, open(backing, "rb") as data:
        fcntl.ioctl(loop, LOOP_SET_FD, data.fileno())
        try:
            yield LOOP_MAJOR, number
        finally:
            fcntl.ioctl(loop, LOOP_CLR_FD)


class DevNode(Node):
    def run(self, *args: str, check: bool = True, input: str | None = None,  # noqa: A002
            timeout: float = WAIT):  # type: ignore[no-untyped-def]
        return super().run(*args, check=check, input=input, timeout=timeout)


@pytest.fixture(scope="module")
def disk() -> tuple[int, int]:
    return host_disk()


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory, disk: tuple[int, int]) -> Iterator[DevNode]:
    """The pod, running; the ordinary container's own process tries the host's disk at start and logs
    the result."""
    node = DevNode(tmp_path_factory.mktemp("devices"), network="none",
                   cgroup_parent=f"pyrunc-t{secrets.token_hex(4)}")
    major, minor = disk
    attempt = (f"mknod /tmp/init-disk b {major} {minor} && echo mknod-ok; "
               "head -c 1 /tmp/init-disk >/dev/null && echo init-read-ok; ")
    hold = "trap \"exit 0\" TERM; sleep 3600 & wait"
    containers = (f"  - name: plain\n    image: busybox\n    command: [sh, -c, '{attempt}{hold}']\n"
                  f"  - name: priv\n    image: busybox\n    command: [sh, -c, '{hold}']\n"
                  f"    securityContext:\n      privileged: true\n")
    try:
        node.apply(pod_yaml(POD, containers))
        node.wait_running(POD, timeout=WAIT)
        yield node
    finally:
        node.teardown()


def need(version: int) -> None:
    if detect().version != version:
        pytest.skip(f"this host's cgroups are not v{version}")


def container_group(node: Node, container: str, controller: str) -> str:
    """The container's group (v1: of one controller; v2: controller "") from the state it recorded."""
    return str(node.state(POD, container)["cgroupPaths"][controller])


def pod_group(container_dir: str) -> str:
    return os.path.dirname(container_dir)


# -- the rules, read from the host ------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_the_container_group_holds_runc_s_allow_list(pod: DevNode, version: int) -> None:
    need(version)
    if version == 1:
        plain = container_group(pod, "plain", "devices")
        assert set(Path(plain, "devices.list").read_text().splitlines()) == ALLOW_LIST
        # The pod's group keeps the host's default (as under the kubelet); privileged allows all.
        assert Path(pod_group(plain), "devices.list").read_text().split("\n")[0] == "a *:* rwm"
        assert Path(container_group(pod, "priv", "devices"), "devices.list").read_text().strip() == "a *:* rwm"
        return
    from tests.kernel_readback import attached_programs

    plain = container_group(pod, "plain", "")
    # Exactly one program, and the kernel holds exactly the one built for the rules.
    assert attached_programs(plain) == [device_program(container_rules(privileged=False))]
    assert attached_programs(container_group(pod, "priv", "")) == [device_program(container_rules(privileged=True))]
    assert attached_programs(pod_group(plain)) == []


# -- the attack -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_a_host_block_device_made_with_mknod_cannot_be_read(pod: DevNode, loop_disk: tuple[int, int],
                                                             tmp_path: Path, version: int) -> None:
    need(version)
    major, minor = loop_disk
    # The host reads it through a node of its own (so a refusal below is the device cgroup's doing).
    node_path = tmp_path / "disk"
    os.mknod(node_path, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    with open(node_path, "rb") as f:
        assert f.read(len(MARKER)) == MARKER
    # An exec'd process joins the container's cgroup and gets the same rules.
    made = pod.exec(POD, "plain", "sh", "-c", f"mknod /tmp/disk b {major} {minor} && ls -l /tmp/disk")
    assert made.stdout.startswith("b"), made.stdout
    read = pod.exec(POD, "plain", "head", "-c", "1", "/tmp/disk", check=False)
    assert read.returncode != 0 and "Operation not permitted" in read.stderr, (read.returncode, read.stderr)
    write = pod.exec(POD, "plain", "sh", "-c", "printf x >> /tmp/disk", check=False)
    assert write.returncode != 0 and "Operation not permitted" in write.stderr, write.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_the_host_root_disk_and_dev_mem_cannot_be_opened(pod: DevNode, disk: tuple[int, int], version: int) -> None:
    need(version)
    major, minor = disk
    # The container's own process (started before any exec) made the node and was refused.
    logs = poll("the init's attempt in the logs", lambda: (
        out if "mknod-ok" in (out := pod.run("logs", POD, "-c", "plain").stdout) else None), WAIT)
    assert "init-read-ok" not in logs and "Operation not permitted" in logs, logs
    out = pod.exec(POD, "plain", "sh", "-c", f"mknod /tmp/root-disk b {major} {minor} && head -c 1 /tmp/root-disk",
                   check=False)
    assert out.returncode != 0 and "/tmp/root-disk" in out.stderr and "Operation not permitted" in out.stderr, out
    # A character device outside the list: /dev/mem (1:1).
    mem = pod.exec(POD, "plain", "sh", "-c", "mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem", check=False)
    assert mem.returncode != 0 and "/tmp/mem" in mem.stderr and "Operation not permitted" in mem.stderr, mem


@pytest.mark.parametrize("version", VERSIONS)
def test_the_allowed_devices_still_work(pod: DevNode, version: int) -> None:
    need(version)
    out = pod.exec(POD, "plain", "sh", "-c",
                   "head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c;"
                   " echo x > /dev/null && echo null-ok; echo x > /dev/full || echo full-enospc").stdout.split()
    assert out == ["4", "4", "4", "null-ok", "full-enospc"], out


@pytest.mark.parametrize("version", VERSIONS)
def test_dev_holds_only_the_allowed_nodes(pod: DevNode, version: int) -> None:
    need(version)
    entries = set(pod.exec(POD, "plain", "ls", "-A", "/dev").stdout.split())
    assert entries == DEV_ENTRIES
    # Every device node there is one the rules allow (major:minor in hex from stat).
    listing = "for f in /dev/*; do [ -c $f ] && [ ! -L $f ] && stat -c '%n %t:%T' $f; done"
    nodes = pod.exec(POD, "plain", "sh", "-c", listing, check=False).stdout.split("\n")
    numbers = {line.split()[0]: tuple(int(x, 16) for x in line.split()[1].split(":")) for line in nodes if line}
    assert numbers == {"/dev/full": (1, 7), "/dev/null": (1, 3), "/dev/random": (1, 8), "/dev/tty": (5, 0),
                       "/dev/urandom": (1, 9), "/dev/zero": (1, 5)}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_privileged_container_can_read_the_block_device(pod: DevNode, loop_disk: tuple[int, int],
                                                          version: int) -> None:
    need(version)
    major, minor = loop_disk
    out = pod.exec(POD, "priv", "sh", "-c", f"mknod /tmp/disk b {major} {minor} && head -c {len(MARKER)} /tmp/disk")
    assert out.stdout == MARKER.decode(), (out.stdout, out.stderr)


# -- the v2 program on a bare group: replacing, not stacking ----------------------------------

def cgroup2_mount(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == path and line.partition(" - ")[2].split()[0] == "cgroup2" for line in f)


# The unified hierarchy of a hybrid v1 host (this CI machine) runs device programs too: the kernel asks
# the programs of the task's cgroup2 group before the v1 devices controller. A v2 host has it at the top.
CGROUP2_ROOTS = [pytest.param("/sys/fs/cgroup/unified", id="hybrid"),
                 pytest.param("/sys/fs/cgroup", id="unified", marks=pytest.mark.cgroup2)]


@pytest.mark.parametrize("mount", CGROUP2_ROOTS)
def test_a_new_device_program_replaces_the_old_one(mount: str, loop_disk: tuple[int, int], tmp_path: Path) -> None:
    from pyrunc.cgroups.ebpf import set_device_program
    from tests.kernel_readback import attached_programs

    if not cgroup2_mount(mount):
        pytest.skip(f"no cgroup2 mount at {mount}")
    major, minor = loop_disk
    node_path = tmp_path / "disk"
    os.mknod(node_path, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    group = Path(mount, f"pyrunc-devtest-{secrets.token_hex(4)}")
    group.mkdir()

    def read_in_group() -> subprocess.CompletedProcess[str]:
        # The shell moves itself into the group, then execs the reader there.
        return subprocess.run(["sh", "-c", f'echo $$ > {group}/cgroup.procs && exec head -c {len(MARKER)} "$0"',
                               str(node_path)], capture_output=True, text=True, check=False)

    try:
        confined, everything = device_program(container_rules(False)), device_program(container_rules(True))
        set_device_program(str(group), confined)
        set_device_program(str(group), confined)
        assert attached_programs(str(group)) == [confined]
        refused = read_in_group()
        assert refused.returncode != 0 and "Operation not permitted" in refused.stderr, refused
        set_device_program(str(group), everything)
        assert attached_programs(str(group)) == [everything]
        assert read_in_group().stdout == MARKER.decode()
    finally:
        group.rmdir()  # the processes are gone; the programs go with the group


def test_a_refused_program_is_one_error_with_the_verifier_log() -> None:
    from pyrunc.cgroups.ebpf import load_device_program
    from pyrunc.errors import CgroupError

    # "exit" alone returns r0 without ever setting it: the verifier refuses to load that.
    with pytest.raises(CgroupError) as refused:
        load_device_program(bytes.fromhex("95 00 0000 00000000"))
    message = str(refused.value)
    assert message.startswith("cannot load the device cgroup BPF program: ") and "verifier log:" in message
    assert "R0" in message, message

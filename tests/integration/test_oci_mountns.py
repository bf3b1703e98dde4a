"""A mount namespace joined by path (linux.namespaces: {"type": "mount", "path": ...}), seen from the host: the
container's init is in that very namespace, builds its root there as in a new one (runc's nsexec joins it, then
its init prepares the rootfs), and nothing is left once it is deleted. The namespace is one the test makes and
keeps with a bind of its nsfs file (util-linux `unshare --mount=FILE`), a copy of the host's mounts. Fixtures
are test_oci.py's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.integration.helpers import alive
from tests.integration.test_oci import RUNC, SLEEP, Oci, needs_runc, oci, rootfs  # noqa: F401 - fixtures

pytestmark = [pytest.mark.root]


@pytest.fixture
def mount_ns(oci: Oci) -> Iterator[Any]:  # noqa: F811 - the fixture imported above
    """make(name) -> the path of a new persistent mount namespace, under a private bind of a directory of the
    test's own (a namespace file cannot be bound under a shared mount); unmounted at teardown, before the
    oci fixture's check that nothing is mounted under the test's directory."""
    holder = oci.tmp / "ns"
    holder.mkdir()
    subprocess.run(["mount", "--bind", str(holder), str(holder)], check=True)
    subprocess.run(["mount", "--make-private", str(holder)], check=True)
    made: list[Path] = []

    def make(name: str) -> Path:
        path = holder / name
        path.touch()
        subprocess.run(["unshare", f"--mount={path}", "--propagation", "private", "true"], check=True)
        made.append(path)
        return path

    try:
        yield make
    finally:
        for path in made:
            subprocess.run(["umount", str(path)], check=False)
        subprocess.run(["umount", str(holder)], check=False)


def _joining(path: Path) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        doc["linux"]["namespaces"] = [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                      {"type": "mount", "path": str(path)}]
    return edit


def _same_namespace(pid: int, path: Path) -> bool:
    ours, theirs = os.stat(f"/proc/{pid}/ns/mnt"), os.stat(path)
    return (ours.st_ino, ours.st_dev) == (theirs.st_ino, theirs.st_dev)


def _in_the_container(pid: int) -> str:
    """The init's mount table, as it sees it (mount points relative to its root)."""
    return Path(f"/proc/{pid}/mountinfo").read_text()


@pytest.mark.parametrize("runc", [False, pytest.param(True, marks=needs_runc)], ids=["pyrunc-oci", "runc"])
def test_a_container_joins_a_mount_namespace_by_path(oci: Oci, mount_ns: Any, runc: bool) -> None:  # noqa: F811
    path = mount_ns("mnt")
    pid = oci.run_detached("mj", oci.bundle(SLEEP, _joining(path)), runc=runc)
    assert _same_namespace(pid, path)
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    # Its root was built there as in a new namespace: the busybox root, /proc and /dev mounted, the host's gone.
    table = _in_the_container(pid)
    points = [line.split()[4] for line in table.splitlines()]
    assert {"/", "/proc", "/dev", "/sys"} <= set(points)
    assert not any(p.startswith(str(oci.tmp)) for p in points), table
    assert os.path.exists(f"/proc/{pid}/root/bin/busybox")
    oci("delete", "--force", "mj", runc=runc)
    assert not alive(pid)
    assert not (oci.runc_root if runc else oci.root).joinpath("mj").exists()


def test_run_in_a_joined_mount_namespace_and_its_exit_status(oci: Oci, mount_ns: Any) -> None:  # noqa: F811
    path = mount_ns("mnt")
    oci.ids.add("mr")
    out = oci("run", "--bundle", str(oci.bundle(["sh", "-c", "test -e /bin/busybox && exit 3"], _joining(path))),
              "mr", check=False)
    assert out.returncode == 3, out.stderr
    assert not (oci.root / "mr").exists()


def test_a_mount_namespace_path_that_is_not_one_fails_create_and_leaves_nothing(oci: Oci) -> None:  # noqa: F811
    for cid, where in (("mm", oci.tmp / "missing"), ("mf", oci.tmp / "plain")):
        if cid == "mf":
            where.write_text("")
        oci.ids.add(cid)
        out = oci("create", "--bundle", str(oci.bundle(SLEEP, _joining(where))), cid, check=False)
        assert out.returncode == 1
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
        assert not (oci.root / cid).exists()

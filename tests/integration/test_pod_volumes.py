"""Volumes checked from inside the containers and from the host: emptyDir (disk and Memory),
hostPath (types, readOnly), subPath."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import Node, module_node, node, pod_yaml, poll, sleeper  # noqa: F401

pytestmark = [pytest.mark.root, pytest.mark.network]


def writer(host_dir: Path) -> str:
    return """  - name: w
    image: busybox
    command: [sh, -c, 'echo from-w > /data/note; echo mem-w > /mem/note; trap "exit 0" TERM; sleep 3600 & wait']
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
    - {name: hp, mountPath: /hp}
    - {name: hp, mountPath: /hp-ro, readOnly: true}
    - {name: data, mountPath: /sub, subPath: deep/er}
"""


def volumes(host_dir: Path) -> str:
    return f"""  volumes:
  - name: data
    emptyDir: {{}}
  - name: mem
    emptyDir: {{medium: Memory, sizeLimit: 16Mi}}
  - name: hp
    hostPath: {{path: {host_dir}/made/here, type: DirectoryOrCreate}}
"""


@pytest.fixture(scope="module")
def vol(module_node: Node, tmp_path_factory: pytest.TempPathFactory) -> tuple[Node, Path]:  # noqa: F811
    host_dir = tmp_path_factory.mktemp("hostpath")
    reader = sleeper("r", "    volumeMounts:\n    - {name: data, mountPath: /in}\n    - {name: mem, mountPath: /mem}\n")
    module_node.apply(pod_yaml("vol", writer(host_dir) + reader, volumes(host_dir)))
    module_node.wait_running("vol")
    poll("the writer's files", lambda: (module_node.volume_dir("vol", "data") / "note").exists())
    return module_node, host_dir


def mountinfo(pid: int) -> dict[str, list[str]]:
    """mount point -> fields after ' - ' (fstype, source, super options) in the pid's mount namespace."""
    out = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        out[left.split()[4]] = left.split()[5:6] + right.split()
    return out


def test_empty_dir_written_by_one_container_read_by_the_other(vol: tuple[Node, Path]) -> None:
    n, _ = vol
    assert n.exec("vol", "r", "cat", "/in/note").stdout == "from-w\n"
    # It is a directory under the pod's state on the host, not a copy.
    assert (n.volume_dir("vol", "data") / "note").read_text() == "from-w\n"
    n.exec("vol", "r", "sh", "-c", "echo back > /in/reply")
    assert n.exec("vol", "w", "cat", "/data/reply").stdout == "back\n"


def test_memory_empty_dir_is_tmpfs_with_size_limit_shared_by_the_pod(vol: tuple[Node, Path]) -> None:
    n, _ = vol
    info = mountinfo(n.container_pid("vol", "w"))
    assert info["/mem"][1] == "tmpfs"
    assert "size=16384k" in info["/mem"][-1].split(",")
    # The same tmpfs in both containers (podman #24930 mounted one per container).
    assert n.exec("vol", "r", "cat", "/mem/note").stdout == "mem-w\n"


def test_host_path_directory_or_create_creates_it(vol: tuple[Node, Path]) -> None:
    n, host_dir = vol
    assert (host_dir / "made" / "here").is_dir()
    n.exec("vol", "w", "sh", "-c", "echo to-host > /hp/file")
    assert (host_dir / "made" / "here" / "file").read_text() == "to-host\n"


def test_read_only_mount(vol: tuple[Node, Path]) -> None:
    n, host_dir = vol
    (host_dir / "made" / "here" / "seen").write_text("yes\n")
    assert n.exec("vol", "w", "cat", "/hp-ro/seen").stdout == "yes\n"
    proc = n.exec("vol", "w", "touch", "/hp-ro/nope", check=False)
    assert proc.returncode != 0 and "Read-only file system" in proc.stderr
    assert not (host_dir / "made" / "here" / "nope").exists()
    assert "ro" in mountinfo(n.container_pid("vol", "w"))["/hp-ro"][0].split(",")


def test_sub_path_mounts_the_sub_directory(vol: tuple[Node, Path]) -> None:
    n, _ = vol
    n.exec("vol", "w", "sh", "-c", "echo sub > /sub/x")
    assert (n.volume_dir("vol", "data") / "deep" / "er" / "x").read_text() == "sub\n"
    assert n.exec("vol", "r", "cat", "/in/deep/er/x").stdout == "sub\n"
    assert n.exec("vol", "w", "ls", "/sub").stdout.split() == ["x"]


def test_host_path_type_file_missing_fails_the_container(node: Node, tmp_path: Path) -> None:  # noqa: F811
    """kubelet accepts the pod; the mount fails on the node: the container never starts, it waits
    with a creation error reason, and an event names the failed hostPath check."""
    missing = tmp_path / "no-such-file"
    manifest = pod_yaml("hp-file", sleeper("a", "    volumeMounts: [{name: f, mountPath: /f}]\n"),
                        f"  volumes:\n  - name: f\n    hostPath: {{path: {missing}, type: File}}\n")
    proc = node.apply(manifest, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "pod/hp-file created"
    status = node.pod_json("hp-file")["status"]
    waiting = status["containerStatuses"][0]["state"].get("waiting", {})
    assert waiting.get("reason") in ("ContainerCreating", "CreateContainerConfigError", "CreateContainerError")
    assert status["phase"] == "Pending"
    assert "hostPath type check failed" in node.run("describe", "pod", "hp-file").stdout
    assert not missing.exists()

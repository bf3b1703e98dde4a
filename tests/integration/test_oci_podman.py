"""podman from Debian's package with `--runtime pyrunc-oci`: conmon drives pyrunc-oci through create
(--bundle --pid-file --console-socket/--log), start, state, kill, delete, exec, pause and resume. The image is
made here from the busybox rootfs with `podman import`; every container and the image are removed by id."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import WAIT, REPO
from tests.integration.test_oci import rootfs  # noqa: F401 - the module's busybox rootfs fixture
from tests.integration.test_oci_verbs import _through_a_terminal

PODMAN = shutil.which("podman")
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(PODMAN is None, reason="podman is not installed (scripts/setup.sh --test installs it)")]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Podman:
    def __init__(self, tmp: Path, image_root: Path) -> None:
        # pyrunc-oci as podman finds it: an executable file (conmon runs it by path).
        self.runtime = tmp / "pyrunc-oci"
        self.runtime.write_text(f"#!{sys.executable}\nimport sys; sys.path.insert(0, {str(REPO)!r})\n"
                                "from pyrunc.oci.cli import console; console()\n")
        self.runtime.chmod(0o755)
        conf = tmp / "containers.conf"
        # Root here may not raise hard rlimits; podman's defaults try to (setrlimit EPERM).
        conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.ids: list[str] = []
        tarball = tmp / "busybox.tar"
        subprocess.run(["tar", "-C", str(image_root), "-cf", str(tarball), "."], check=True)
        self.image = self("import", "--quiet", "--change", f"ENV={PATH_ENV}", "--change", 'CMD=["sh"]',
                          str(tarball)).stdout.strip()

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run([PODMAN or "podman", "--runtime", str(self.runtime), *args], capture_output=True,
                             text=True, timeout=WAIT * 4, env=self.env, stdin=subprocess.DEVNULL, check=False)
        if check:
            assert out.returncode == 0, out.stderr
        return out

    def cleanup(self) -> None:
        for cid in self.ids:
            self("rm", "--force", "--time", "0", cid, check=False)
        self("rmi", "--force", self.image, check=False)


@pytest.fixture
def podman(tmp_path: Path, rootfs: Path) -> Iterator[Podman]:  # noqa: F811
    p = Podman(tmp_path, rootfs)
    yield p
    p.cleanup()
    for cid in p.ids:
        assert not Path("/run/pyrunc-oci", cid).exists(), f"pyrunc-oci state left for {cid}"


def test_podman_runs_a_container_through_pyrunc_oci(podman: Podman) -> None:
    assert podman("run", "--rm", podman.image, "true").returncode == 0
    out = podman("run", "--rm", podman.image, "sh", "-c", "echo hello; exit 5", check=False)
    assert out.returncode == 5 and out.stdout == "hello\n"
    cid = podman("run", "--detach", podman.image, "sleep", "300").stdout.strip()
    podman.ids.append(cid)
    info = podman("inspect", "--format", "{{.State.Pid}} {{.OCIRuntime}}", cid).stdout.split()
    assert int(info[0]) > 0 and info[1].endswith("pyrunc-oci")
    assert (Path("/run/pyrunc-oci") / cid / "state.json").exists()  # ours, not runc's
    out = podman("exec", cid, "sh", "-c", "echo in-exec; exit 3", check=False)
    assert out.returncode == 3 and out.stdout == "in-exec\n"
    podman("pause", cid)
    assert podman("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "paused"
    podman("unpause", cid)
    assert podman("inspect", "--format", "{{.State.Status}}", cid).stdout.strip() == "running"
    podman("rm", "--force", "--time", "0", cid)
    podman.ids.remove(cid)
    assert not (Path("/run/pyrunc-oci") / cid).exists()


def test_podman_with_a_terminal(podman: Podman) -> None:
    cid = podman("run", "--detach", podman.image, "sleep", "300").stdout.strip()
    podman.ids.append(cid)
    base = [PODMAN or "podman", "--runtime", str(podman.runtime)]
    os.environ["CONTAINERS_CONF"] = podman.env["CONTAINERS_CONF"]  # inherited by the pty's child
    try:
        code, text = _through_a_terminal([*base, "exec", "-it", cid, "sh", "-c", "tty; echo ready; read l; echo got=$l"],
                                         b"hello\n", b"ready")
        assert code == 0 and b"/dev/pts/" in text and b"got=hello" in text, text
        code, text = _through_a_terminal([*base, "run", "--rm", "-it", podman.image, "sh", "-c",
                                          "tty; echo ready; read l; echo got=$l; exit 2"], b"there\n", b"ready")
        assert code == 2 and b"got=there" in text, text
    finally:
        del os.environ["CONTAINERS_CONF"]

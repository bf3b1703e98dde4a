"""rootfs/busybox.sh: the built-in busybox image, built for real from the host's busybox-static."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

RECIPE = Path(__file__).resolve().parents[2] / "rootfs" / "busybox.sh"
APPLETS = ("sh", "sleep", "httpd", "nc", "id", "tail", "wget", "hostname", "cat", "date")


def build(dest: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(RECIPE), str(dest)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    dest = tmp_path_factory.mktemp("images") / "docker.io" / "library" / "busybox" / "latest"
    result = build(dest)
    assert result.returncode == 0, result.stderr
    assert "built" in result.stdout
    return dest


def test_second_run_is_a_no_op(image: Path) -> None:
    before = {p: p.stat().st_ino for p in (image, image / "config.json", image / "rootfs" / "bin" / "busybox")}
    result = build(image)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert {p: p.stat().st_ino for p in before} == before
    assert not list(image.parent.glob("latest.tmp.*")) and not list(image.parent.glob("latest.old.*"))


def test_applets_are_links_to_busybox(image: Path) -> None:
    rootfs = image / "rootfs"
    busybox = (rootfs / "bin" / "busybox").stat()
    for name in APPLETS:
        found = [rootfs / d / name for d in ("bin", "sbin", "usr/bin", "usr/sbin") if (rootfs / d / name).exists()]
        assert len(found) == 1, f"{name}: {found}"
        assert found[0].stat().st_ino == busybox.st_ino
    assert (rootfs / "bin" / "sh").exists() and (rootfs / "usr" / "sbin" / "httpd").exists()


def test_chroot_runs_a_shell(image: Path) -> None:
    out = subprocess.run(
        ["chroot", str(image / "rootfs"), "/bin/sh", "-c", "echo ok; id -u; id -u www-data; wget --help 2>&1 | head -1"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    lines = out.stdout.splitlines()
    assert lines[:3] == ["ok", "0", "33"]
    assert lines[3].startswith("BusyBox")


def test_filesystem_layout(image: Path) -> None:
    rootfs = image / "rootfs"
    for d in ("proc", "sys", "dev", "tmp", "root", "var/www", "etc"):
        assert (rootfs / d).is_dir(), d
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777
    for f in ("hostname", "hosts", "resolv.conf"):
        assert (rootfs / "etc" / f).read_bytes() == b""
    passwd = (rootfs / "etc" / "passwd").read_text().splitlines()
    assert "root:x:0:0:root:/root:/bin/sh" in passwd
    uids = {line.split(":")[0]: line.split(":")[2] for line in passwd}
    assert uids["www-data"] == "33" and uids["nobody"] == "65534"
    gids = {line.split(":")[0]: line.split(":")[2] for line in (rootfs / "etc" / "group").read_text().splitlines()}
    assert gids["root"] == "0" and gids["www-data"] == "33" and gids["nobody"] == "65534"


def test_config_matches_docker_hub_busybox(image: Path) -> None:
    config = json.loads((image / "config.json").read_text())
    assert config["os"] == "linux"
    assert config["config"]["Cmd"] == ["sh"]
    assert "Entrypoint" not in config["config"]
    assert config["config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert config["config"]["WorkingDir"] == "/"
    assert config["rootfs"] == {"type": "layers", "diff_ids": []}
    assert config["created"] and config["history"]
    assert config["pyrunc.digest"].startswith("sha256:") and len(config["pyrunc.digest"]) == 71


def test_digest_is_reproducible_and_a_changed_stamp_rebuilds(image: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    assert build(other).returncode == 0
    digest = json.loads((image / "config.json").read_text())["pyrunc.digest"]
    assert json.loads((other / "config.json").read_text())["pyrunc.digest"] == digest
    (other / ".stamp").write_text("busybox 0000\n")
    old_inode = other.stat().st_ino
    result = build(other)
    assert result.returncode == 0 and "built" in result.stdout
    assert other.stat().st_ino != old_inode
    assert json.loads((other / "config.json").read_text())["pyrunc.digest"] == digest


@pytest.mark.parametrize("binary", ["/bin/ls", "/nonexistent/busybox"])
def test_refuses_a_missing_or_dynamic_busybox(binary: str, tmp_path: Path) -> None:
    result = build(tmp_path / "img", BUSYBOX=binary)
    assert result.returncode == 1
    assert "busybox-static" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "img").exists()

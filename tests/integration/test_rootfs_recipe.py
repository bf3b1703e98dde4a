"""rootfs/busybox.sh and scripts/builtin-image.sh: the built-in busybox image, built for real from the
host's busybox-static and imported into an image store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "rootfs" / "busybox.sh"
PYRUNC = REPO / ".venv" / "bin" / "pyrunc"
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
    before = {p: p.stat().st_ino for p in (image, image / "rootfs.tar", image / "rootfs" / "bin" / "busybox")}
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


def imported(image_build: Path, store: Path) -> dict[str, object]:
    """scripts/builtin-image.sh into `store`; the image as `pyrunc image inspect` prints it."""
    env = {**os.environ, "PYRUNC_IMAGES": str(store)}
    subprocess.run(["sh", str(REPO / "scripts" / "builtin-image.sh"), str(PYRUNC), str(image_build)],
                   check=True, capture_output=True, env=env)
    out = subprocess.run([str(PYRUNC), "image", "inspect", "busybox"], check=True, capture_output=True, env=env,
                         text=True).stdout
    return dict(json.loads(out))


def test_imported_config_matches_docker_hub_busybox(image: Path, tmp_path: Path) -> None:
    info = imported(image, tmp_path / "store")
    config = info["config"]
    assert isinstance(config, dict)
    assert info["os"] == "linux" and info["repoTags"] == ["docker.io/library/busybox:latest"]
    assert config["Cmd"] == ["sh"]
    assert "Entrypoint" not in config
    assert config["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert config["WorkingDir"] == "/"
    assert len(info["layers"]) == 1  # type: ignore[arg-type]


def test_image_id_is_reproducible_and_a_changed_stamp_rebuilds(image: Path, tmp_path: Path) -> None:
    other = tmp_path / "copy"
    assert build(other).returncode == 0
    assert (other / "rootfs.tar").read_bytes() == (image / "rootfs.tar").read_bytes()
    first = imported(image, tmp_path / "store-a")["id"]
    assert imported(other, tmp_path / "store-b")["id"] == first
    assert imported(other, tmp_path / "store-b")["id"] == first  # a second import changes nothing
    (other / ".stamp").write_text("busybox 0000\n")
    old_inode = other.stat().st_ino
    result = build(other)
    assert result.returncode == 0 and "built" in result.stdout
    assert other.stat().st_ino != old_inode
    assert (other / "rootfs.tar").read_bytes() == (image / "rootfs.tar").read_bytes()


@pytest.mark.parametrize("binary", ["/bin/ls", "/nonexistent/busybox"])
def test_refuses_a_missing_or_dynamic_busybox(binary: str, tmp_path: Path) -> None:
    result = build(tmp_path / "img", BUSYBOX=binary)
    assert result.returncode == 1
    assert "busybox-static" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "img").exists()

"""The pure parts of `pyrunc cp` and `pyrunc port-forward`: file specs, archive names, ports, the unpacker."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pyrunc.cli.port_forward_cmd import Forward, listen_addresses, parse_ports, resolve_ports
from pyrunc.errors import PyruncError
from pyrunc.runtime.copy import FileSpec, Unpacker, lexical_target, parse_file_spec, remote_source


def test_file_specs_as_kubectl() -> None:
    assert parse_file_spec("/tmp/x") == FileSpec(None, None, "/tmp/x")
    assert parse_file_spec("web:/tmp/x") == FileSpec(None, "web", "/tmp/x")
    assert parse_file_spec("ns/web:tmp/x") == FileSpec("ns", "web", "tmp/x")
    assert parse_file_spec("web:") == FileSpec(None, "web", "")
    for bad in (":x", "a/b/c:x", "/web:x"):
        with pytest.raises(PyruncError, match="canonical format"):
            parse_file_spec(bad)


def test_remote_source_splits_for_tar_minus_c() -> None:
    assert remote_source("/tmp/dir/") == ("/tmp", "dir")
    assert remote_source("etc") == ("/", "etc")
    assert remote_source("/a/../b") == ("/", "b")
    assert remote_source("/") == ("/", ".")


@pytest.mark.parametrize("name,prefix,want", [
    ("dir", "dir", ""), ("dir/", "dir", ""), ("dir/a/b", "dir", "a/b"), ("./dir/a", "dir", "a"),
    ("./a", ".", "a"), ("dir/../x", "dir", None), ("dir/a/../../x", "dir", None), ("other/a", "dir", None),
    ("/dir/a", "dir", None), ("dirx/a", "dir", None), ("../dir/a", "dir", None),
])
def test_lexical_target(name: str, prefix: str, want: str | None) -> None:
    assert lexical_target(name, prefix) == want


def test_ports_as_kubectl() -> None:
    assert parse_ports(["8080:80", "80", ":81", "9000:http", "http"]) == [
        Forward(8080, 80), Forward(80, 80), Forward(0, 81), Forward(9000, "http"), Forward(-1, "http")]
    for bad in ("1:2:3", "x:80", "80:", "70000", "80:0"):
        with pytest.raises(PyruncError):
            parse_ports([bad])
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8000}]}]}}
    assert resolve_ports(pod, parse_ports(["9000:http", "http", "1:2"])) == [(9000, 8000), (8000, 8000), (1, 2)]
    with pytest.raises(PyruncError, match="Pod 'p' does not have a named port 'dns'"):
        resolve_ports(pod, parse_ports(["dns"]))


def test_listen_addresses() -> None:
    assert listen_addresses("127.0.0.1") == ["127.0.0.1"]
    assert listen_addresses("localhost,0.0.0.0") == ["127.0.0.1", "::1", "0.0.0.0"]
    with pytest.raises(PyruncError, match="not an IP address"):
        listen_addresses("example.com")


def archive(*entries: tuple[str, str, bytes | str, int]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE}[kind]
            info.linkname = data if isinstance(data, str) else ""
            t.addfile(info)
    buf.seek(0)
    return buf


def unpack(dest: Path, prefix: str, buf: io.BytesIO) -> list[str]:
    lines: list[str] = []
    Unpacker(str(dest), prefix, lines.append).unpack(buf)
    return lines


def test_unpack_keeps_permission_bits_only_and_copies_hard_links(tmp_path: Path) -> None:
    lines = unpack(tmp_path / "d", "src", archive(("src", "dir", b"", 0o755), ("src/a", "file", b"A", 0o4755),
                                                  ("src/sub", "dir", b"", 0o700), ("src/sub/b", "hard", "src/a", 0),
                                                  ("src/dev", "chr", b"", 0o666)))
    d = tmp_path / "d"
    assert stat.S_IMODE((d / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE((d / "sub").stat().st_mode) == 0o700
    assert (d / "sub" / "b").read_bytes() == b"A" and (d / "sub" / "b").stat().st_ino != (d / "a").stat().st_ino
    assert sorted(os.listdir(d)) == ["a", "sub"] and len(lines) == 1 and "dev" in lines[0]


def test_a_single_file_goes_to_dest_or_into_an_existing_directory(tmp_path: Path) -> None:
    unpack(tmp_path / "new.txt", "f.txt", archive(("f.txt", "file", b"x", 0o600)))
    assert (tmp_path / "new.txt").read_bytes() == b"x"
    (tmp_path / "into").mkdir()
    unpack(tmp_path / "into", "f.txt", archive(("f.txt", "file", b"y", 0o600)))
    assert (tmp_path / "into" / "f.txt").read_bytes() == b"y"


def test_nothing_is_written_outside_the_destination(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "out").symlink_to(outside)
    lines = unpack(dest, "src", archive(("src", "dir", b"", 0o755), ("src/../x", "file", b"!", 0o644),
                                        ("/src/y", "file", b"!", 0o644), ("src/l", "sym", "/etc", 0o777),
                                        ("src/l/passwd", "file", b"!", 0o644), ("src/out/z", "file", b"!", 0o644),
                                        ("src/h", "hard", "/etc/passwd", 0), ("src/ok", "file", b"ok", 0o644)))
    assert list(outside.iterdir()) == [] and not (tmp_path / "x").exists()
    assert (dest / "ok").read_bytes() == b"ok"
    assert (dest / "l" / "passwd").read_bytes() == b"!"  # `l` was never a symlink here: a plain directory
    assert len(lines) == 5, lines

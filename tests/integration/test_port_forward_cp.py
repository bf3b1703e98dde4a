"""port-forward and cp against a real pod through the CLI (issue 11, item 6)."""

from __future__ import annotations

import io
import os
import select
import signal
import socket
import stat
import subprocess
import tarfile
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.integration.helpers import PYRUNC, REPO, WAIT, Node, _node, pod_yaml, poll, sleeper

pytestmark = [pytest.mark.root, pytest.mark.network]

WEB = """  - name: web
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 80 -h /www']
    ports:
    - {name: http, containerPort: 80}
"""


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    nodes = _node(tmp_path_factory.mktemp("node"))
    node = next(nodes)
    try:
        node.apply(pod_yaml("pf", WEB + sleeper("app")))
        node.wait_running("pf")
        yield node
    finally:
        next(nodes, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortForward:
    """`pyrunc port-forward` as a subprocess; its output lines read without blocking the test forever."""

    def __init__(self, node: Node, *args: str) -> None:
        self.proc = subprocess.Popen([*PYRUNC, "--root", node.root, "port-forward", *args], cwd=str(REPO),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def line_with(self, text: str) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()

        def found() -> str | None:
            for line in self.out.decode().splitlines():
                if text in line:
                    return line
            if select.select([fd], [], [], 0.1)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    pytest.fail(f"port-forward ended: {self.out!r} {self.stop()[1]!r}")
                self.out += chunk
            return None

        return str(poll(f"{text!r} from port-forward", found))

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, err.decode()


def test_port_forward_carries_an_http_request(pod: Node) -> None:
    port = free_port()
    pf = PortForward(pod, "pf", f"{port}:80")
    try:
        assert pf.line_with("Forwarding from") == f"Forwarding from 127.0.0.1:{port} -> 80"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=WAIT) as r:
            assert r.read() == b"hello-from-the-pod\n"
        assert pf.line_with("Handling connection") == f"Handling connection for {port}"
    finally:
        code, err = pf.stop()
    assert code == 0, err


def test_a_named_port_and_a_random_local_port(pod: Node) -> None:
    pf = PortForward(pod, "pod/pf", ":http")
    try:
        line = pf.line_with("Forwarding from")
        assert line.endswith(" -> 80") and line.startswith("Forwarding from 127.0.0.1:")
        port = int(line.split()[2].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert reply.startswith(b"HTTP/1.") and reply.endswith(b"hello-from-the-pod\n")
    finally:
        pf.stop()


def test_the_port_is_the_pods_not_the_hosts(pod: Node) -> None:
    """Nothing listens on the pod's port 81: the connection is refused inside the pod, and the forward says so."""
    with socket.socket() as host_side:  # something on the host's loopback at that port must not be reached
        host_side.bind(("127.0.0.1", 0))
        host_side.listen(1)
        remote = host_side.getsockname()[1]
        pf = PortForward(pod, "pf", f":{remote}")
        try:
            port = int(pf.line_with("Forwarding from").split()[2].rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
                s.settimeout(WAIT)
                assert s.recv(10) == b""  # closed by the forward: nothing listens there in the pod
            assert not select.select([host_side], [], [], 0)[0]
        finally:
            _, err = pf.stop()
    assert f"an error occurred forwarding {port} -> {remote}" in err and "refused" in err


def test_a_host_network_pod_is_forwarded_on_the_hosts_loopback(pod: Node) -> None:
    remote = free_port()
    web = f"""  - name: web
    image: busybox
    command: [sh, -c, 'mkdir -p /www && echo on-the-host > /www/index.html && exec httpd -f -p 127.0.0.1:{remote} -h /www']
"""
    pod.apply(pod_yaml("hostweb", web, "  hostNetwork: true\n"))
    try:
        pod.wait_running("hostweb")
        pf = PortForward(pod, "hostweb", f":{remote}")
        try:
            port = int(pf.line_with("Forwarding from").split()[2].rsplit(":", 1)[1])

            def get() -> bytes | None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=WAIT) as r:
                        return bytes(r.read())
                except OSError:  # httpd may not listen yet
                    return None

            assert poll("the host-network pod's page", get) == b"on-the-host\n"
        finally:
            pf.stop()
    finally:
        pod.delete("hostweb")


def test_port_forward_refuses_bad_input(pod: Node) -> None:
    for args, message in [(["pf", "8080:nope"], "error: Pod 'pf' does not have a named port 'nope'\n"),
                          (["pf", "1:2:3"], "error: invalid port format '1:2:3'\n"),
                          (["pf", "80", "--address", "example"], "error: --address: 'example' is not an IP address or localhost\n"),
                          (["nope", "80"], 'Error from server (NotFound): pods "nope" not found\n')]:
        proc = pod.run("port-forward", *args, check=False)
        assert (proc.returncode, proc.stderr) == (1, message)


def test_port_forward_ends_with_an_error_when_the_pod_is_deleted(tmp_path: Path) -> None:
    nodes = _node(tmp_path)
    node = next(nodes)
    try:
        node.apply(pod_yaml("gone", WEB))
        node.wait_running("gone")
        pf = PortForward(node, "gone", ":80")
        pf.line_with("Forwarding from")
        node.delete("gone")
        code, err = pf.stop() if poll("port-forward exits", lambda: pf.proc.poll() is not None) else (0, "")
        assert (code, err) == (1, "error: lost connection to pod\n")
    finally:
        next(nodes, None)


# --- cp -----------------------------------------------------------------------------------------------------------
def test_cp_a_file_and_a_directory_into_the_container_and_back(pod: Node, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(src / "sub" / "run.sh", 0o750)
    (src / "data.bin").write_bytes(bytes(range(256)) * 1000)
    os.chmod(src / "data.bin", 0o640)
    single = tmp_path / "single.txt"
    single.write_text("one file\n")

    pod.run("cp", str(src), "pf:/tmp/tree", "-c", "app")
    pod.run("cp", str(single), "default/pf:/tmp/", "-c", "app")  # a directory: the file goes into it
    listing = pod.exec("pf", "app", "sh", "-c", "stat -c '%a %s %n' /tmp/tree/data.bin /tmp/tree/sub/run.sh "
                                                "/tmp/single.txt; /tmp/tree/sub/run.sh").stdout
    assert listing.splitlines() == ["640 256000 /tmp/tree/data.bin", "750 18 /tmp/tree/sub/run.sh",
                                    f"{stat.S_IMODE(single.stat().st_mode):o} 9 /tmp/single.txt", "hi"]

    back = tmp_path / "back"
    pod.run("cp", "pf:/tmp/tree", str(back), "-c", "app")
    assert (back / "data.bin").read_bytes() == (src / "data.bin").read_bytes()
    assert (back / "sub" / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert stat.S_IMODE((back / "sub" / "run.sh").stat().st_mode) == 0o750
    assert stat.S_IMODE((back / "data.bin").stat().st_mode) == 0o640

    pod.run("cp", "pf:/tmp/single.txt", str(tmp_path / "copy.txt"), "-c", "app")
    assert (tmp_path / "copy.txt").read_text() == "one file\n"


def test_cp_keeps_no_setuid_bit_and_makes_no_device(pod: Node, tmp_path: Path) -> None:
    pod.exec("pf", "app", "sh", "-c", "mkdir -p /tmp/odd && echo x > /tmp/odd/suid && chmod 4755 /tmp/odd/suid "
                                      "&& mknod /tmp/odd/null c 1 3 && mkfifo /tmp/odd/fifo")
    proc = pod.run("cp", "pf:/tmp/odd", str(tmp_path / "odd"), "-c", "app")
    assert stat.S_IMODE((tmp_path / "odd" / "suid").stat().st_mode) == 0o755
    assert sorted(p.name for p in (tmp_path / "odd").iterdir()) == ["suid"]
    assert "not a regular file or directory" in proc.stderr


def test_cp_a_symlink_to_etc_in_the_container_writes_nothing(pod: Node, tmp_path: Path) -> None:
    pod.exec("pf", "app", "sh", "-c", "mkdir -p /tmp/evil && ln -sf /etc /tmp/evil/link && ln -sf /etc /tmp/etclink")
    dest = tmp_path / "dest"
    proc = pod.run("cp", "pf:/tmp/evil", str(dest), "-c", "app")
    assert 'warning: skipping symlink: "' in proc.stderr
    assert list(dest.iterdir()) == []
    proc = pod.run("cp", "pf:/tmp/etclink", str(tmp_path / "etc"), "-c", "app")
    assert "skipping symlink" in proc.stderr and not (tmp_path / "etc").exists()


def crafted_tar() -> bytes:
    """What a hostile container's `tar` may send: names leaving the destination, a symlink then a file through it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        def add(name: str, data: bytes = b"pwned\n", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size, info.mode = kind, link, (len(data) if kind == tarfile.REGTYPE else 0), 0o644
            t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("loot", kind=tarfile.DIRTYPE)
        add("loot/ok.txt", b"fine\n")
        add("loot/../../escaped.txt")
        add("/abs-escaped.txt")
        add("other/escaped.txt")
        add("loot/up", kind=tarfile.SYMTYPE, link="../..")
        add("loot/up/through-symlink.txt")
        add("loot/hard", kind=tarfile.LNKTYPE, link="etc/passwd")
        add("loot/outlink/through-dest-symlink.txt")
    return buf.getvalue()


def test_cp_refuses_a_crafted_archive_that_leaves_the_destination(pod: Node, tmp_path: Path) -> None:
    # The container replaces its own `tar` (first on PATH) with one that sends the crafted archive.
    (tmp_path / "crafted.tar").write_bytes(crafted_tar())
    pod.run("cp", str(tmp_path / "crafted.tar"), "pf:/crafted.tar", "-c", "app")
    pod.exec("pf", "app", "sh", "-c", "mkdir -p /usr/local/bin && printf '#!/bin/sh\\ncat /crafted.tar\\n' "
                                      "> /usr/local/bin/tar && chmod 755 /usr/local/bin/tar")
    try:
        work = tmp_path / "work"
        dest = work / "a" / "b"
        outside = tmp_path / "outside"
        outside.mkdir()
        dest.mkdir(parents=True)
        os.symlink(str(outside), dest / "outlink")  # a symlink already in the destination, pointing out of it
        before = sorted(str(p) for p in tmp_path.rglob("*"))
        proc = pod.run("cp", "pf:/loot", str(dest), "-c", "app")
        assert (dest / "ok.txt").read_text() == "fine\n"
        after = sorted(str(p) for p in tmp_path.rglob("*"))
        new = set(after) - set(before)
        # The symlink `up` is not made, so `up/through-symlink.txt` is an ordinary file inside the destination.
        assert new == {str(dest / "ok.txt"), str(dest / "up"), str(dest / "up" / "through-symlink.txt")}
        assert list(outside.iterdir()) == [] and not any("escaped" in p for p in after)
        assert not Path("/escaped.txt").exists() and not Path("/abs-escaped.txt").exists()
        lines = proc.stderr.splitlines()
        assert sum("is outside target destination" in line for line in lines) == 4, proc.stderr
        assert any("skipping symlink" in line for line in lines)
        assert any("skipping hard link" in line for line in lines)
    finally:
        pod.exec("pf", "app", "rm", "-f", "/usr/local/bin/tar", "/crafted.tar")


def test_cp_refuses_bad_input(pod: Node, tmp_path: Path) -> None:
    for args, message in [(["a", "b"], "error: one of src or dest must be a local file specification\n"),
                          (["pf:/x", "pf:/y"], "error: one of src or dest must be a local file specification\n"),
                          ([":x", "y"], "error: filespec must match the canonical format: [[namespace/]pod:]file/path\n"),
                          ([str(tmp_path / "nope"), "pf:/tmp"], f"error: {tmp_path}/nope doesn't exist in local filesystem\n"),
                          (["pf:/x", str(tmp_path / "x"), "-c", "zz"], "error: container zz is not valid for pod pf\n")]:
        proc = pod.run("cp", *args, check=False)
        assert (proc.returncode, proc.stderr) == (1, message)
    proc = pod.run("cp", "pf:/does/not/exist", str(tmp_path / "x"), "-c", "app", check=False)
    assert proc.returncode == 1 and proc.stderr.endswith("error: tar in the container exited with status 1\n")
    assert not (tmp_path / "x").exists()

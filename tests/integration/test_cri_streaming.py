"""The streaming server of `pyrunc cri`: Exec, Attach and PortForward URLs opened with a WebSocket client of the
channel protocols (tests/integration/stream_client.py), against real CRI pods, as the kubelet's client does."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import node, poll  # noqa: F401
from tests.integration.stream_client import HandshakeRefused, Received, SpdyClient, WsClient, http_get
from tests.integration.test_cri import Cri, cri, free_port, sandbox_config  # noqa: F401

grpc = pytest.importorskip("grpc")
pytestmark = [pytest.mark.root, pytest.mark.network]

V5, V4, V4_BASE64, V1 = "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "channel.k8s.io"
SUCCESS = b'{"metadata":{},"status":"Success"}'


def run_pod(cri: Cri, tmp_path: Path, **container: Any) -> tuple[str, str]:
    """A sandbox with one running busybox container; (sandbox id, container id)."""
    pb, rt = cri.pb, cri.rt
    config = sandbox_config(pb, tmp_path / "kubelet-logs", free_port())
    sandbox_id = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=config)).pod_sandbox_id
    container.setdefault("command", ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"])
    spec = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="busybox"),
                              log_path="app/0.log", **container)
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=sandbox_id, config=spec,
                                                       sandbox_config=config)).container_id
    rt.StartContainer(pb.StartContainerRequest(container_id=cid))
    return sandbox_id, cid


def code_of(call: Any) -> Any:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def exec_url(cri: Cri, cid: str, cmd: list[str], **streams: bool) -> str:
    url: str = cri.rt.Exec(cri.pb.ExecRequest(container_id=cid, cmd=cmd, **streams)).url
    return url


def test_exec_streams_stdin_and_the_exit_code(cri: Cri, tmp_path: Path) -> None:
    _, cid = run_pod(cri, tmp_path)
    url = exec_url(cri, cid, ["sh", "-c", "echo out; echo err >&2; read x; echo got-$x; cat; exit 3"],
                   stdin=True, stdout=True, stderr=True)
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.path.startswith("/exec/"), url

    client = WsClient(url, [V5, V4])
    assert client.protocol == V5
    client.send(0, b"hello\nrest-of-input\n")
    client.close_stdin()  # v5: the command's stdin ends (`cat` returns)
    got = client.read_until_close()
    client.shutdown()
    assert got.text(1) == "out\ngot-hello\nrest-of-input\n", got
    assert got.text(2) == "err\n", got
    status = json.loads(bytes(got.channels[3]))
    assert status == {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: error executing command "
                                 "[sh -c echo out; echo err >&2; read x; echo got-$x; cat; exit 3], exit code 3",
                      "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert got.close_code == 1000

    # The token is single-use: the same URL again is not found, as the kubelet's cache answers.
    with pytest.raises(HandshakeRefused) as refused:
        WsClient(url, [V5])
    assert refused.value.status == 404
    with pytest.raises(HandshakeRefused) as refused:
        WsClient(url.rsplit("/", 1)[0] + "/no-such-token", [V5])
    assert refused.value.status == 404
    assert http_get(url.replace("/exec/", "/nothing/"))[0] == 404


@pytest.mark.parametrize("protocol", [V4, V4_BASE64, V1])
def test_exec_older_channel_protocols(cri: Cri, tmp_path: Path, protocol: str) -> None:
    _, cid = run_pod(cri, tmp_path)
    client = WsClient(exec_url(cri, cid, ["sh", "-c", "echo ok-$((6*7))"], stdout=True), [protocol])
    assert client.protocol == protocol
    got = client.read_until_close()
    client.shutdown()
    assert got.text(1) == "ok-42\n"
    # v4: the Status JSON of a success; v1: the error channel says nothing on success.
    assert bytes(got.channels.get(3, b"")) == (b"" if protocol == V1 else SUCCESS), got


def test_exec_tty_follows_the_resize(cri: Cri, tmp_path: Path) -> None:
    _, cid = run_pod(cri, tmp_path)
    client = WsClient(exec_url(cri, cid, ["sh"], tty=True, stdin=True, stdout=True), [V5])
    got = Received()
    client.send(4, json.dumps({"Width": 123, "Height": 45}).encode())
    client.send(0, b"stty size; tty\n")
    assert client.read_until(1, b"45 123", got), got
    assert client.read_until(1, b"/dev/pts/", got), got
    client.send(4, json.dumps({"Width": 81, "Height": 20}).encode())
    client.send(0, b"stty size\n")
    assert client.read_until(1, b"20 81", got), got
    client.send(0, b"exit 5\n")
    rest = client.read_until_close()
    client.shutdown()
    status = json.loads(bytes(rest.channels[3]))
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0]["message"] == "5", status


def test_attach(cri: Cri, tmp_path: Path) -> None:
    _, cid = run_pod(cri, tmp_path, stdin=True,
                     command=["sh", "-c", "while read line; do echo seen-$line; echo err-$line >&2; done"])
    pb = cri.pb
    url = cri.rt.Attach(pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
    assert "/attach/" in url
    client = WsClient(url, [V5])
    got = Received()
    client.send(0, b"one\n")
    assert client.read_until(1, b"seen-one\n", got), got
    assert client.read_until(2, b"err-one\n", got), got
    client.close()
    client.read_until_close()
    client.shutdown()
    # Detached: the container runs on, and a second attach sees its output.
    second = WsClient(cri.rt.Attach(pb.AttachRequest(container_id=cid, stdin=True, stdout=True)).url, [V4])
    got = Received()
    second.send(0, b"two\n")
    assert second.read_until(1, b"seen-two\n", got), got
    assert b"err-two" not in got.channels.get(2, b""), "stderr was not asked for"
    second.shutdown()
    st = cri.rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status
    assert st.state == pb.CONTAINER_RUNNING


def test_port_forward_inside_the_pod(cri: Cri, tmp_path: Path) -> None:
    # httpd listens on the pod's own 127.0.0.1: only a connection made inside its network namespace reaches it.
    sandbox_id, _ = run_pod(cri, tmp_path, command=[
        "sh", "-c", "mkdir -p /www && echo hello-through-the-stream > /www/index.html && "
                    "exec httpd -f -p 127.0.0.1:8080 -h /www"])
    pb = cri.pb

    def forward() -> Received | None:
        url = cri.rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=sandbox_id, port=[8080])).url
        assert "/portforward/" in url
        client = WsClient(url + "?port=8080", [V4])
        assert client.protocol == V4
        first = client.channel_message()
        assert first == (0, (8080).to_bytes(2, "little")), first  # the port, 2 bytes little endian
        client.send(0, b"GET / HTTP/1.0\r\n\r\n")
        got = client.read_until_close()
        client.shutdown()
        assert got.channels[1][:2] == (8080).to_bytes(2, "little"), got
        if b"hello-through-the-stream" not in got.channels.get(0, b""):
            return None  # httpd may not listen yet: the error channel says so
        return got

    got = poll("the page through the port-forward", forward)
    assert bytes(got.channels[0]).startswith(b"HTTP/1.")
    assert bytes(got.channels[1]) == (8080).to_bytes(2, "little"), "no error"

    # A port nobody listens on: the error channel says why.
    url = cri.rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=sandbox_id, port=[8081])).url
    client = WsClient(url + "?port=8081", [V4])
    got = client.read_until_close()
    client.shutdown()
    assert "connect" in bytes(got.channels[1][2:]).decode(), got


def test_requests_are_checked_and_the_server_is_loopback_only(cri: Cri, tmp_path: Path) -> None:
    sandbox_id, cid = run_pod(cri, tmp_path)
    pb, rt = cri.pb, cri.rt
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=cid, cmd=["sh"], tty=True, stdout=True,
                                                  stderr=True))) == invalid
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=cid, cmd=["sh"]))) == invalid
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=cid, stdout=True))) == invalid
    assert code_of(lambda: rt.Attach(pb.AttachRequest(container_id=cid))) == invalid
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id="nope", cmd=["sh"], stdout=True))) == \
        grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: rt.PortForward(pb.PortForwardRequest(pod_sandbox_id="nope", port=[80]))) == \
        grpc.StatusCode.NOT_FOUND

    url = exec_url(cri, cid, ["true"], stdout=True)
    port = urllib.parse.urlsplit(url).port
    assert port
    # /proc/net/tcp: the listening socket (state 0A) of the streaming server is bound to 127.0.0.1 only.
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":
                listening.append(address)
    assert listening == ["0100007F"], listening
    # A plain GET (no upgrade) is refused, and does not use the token.
    assert http_get(url)[0] == 400
    client = WsClient(url, [V5])
    got = client.read_until_close()
    client.shutdown()
    assert bytes(got.channels[3]) == SUCCESS

    rt.StopContainer(pb.StopContainerRequest(container_id=cid, timeout=0))
    assert code_of(lambda: rt.Exec(pb.ExecRequest(container_id=cid, cmd=["sh"], stdout=True))) == \
        grpc.StatusCode.FAILED_PRECONDITION


# -- SPDY/3.1, as client-go's remotecommand and port-forward speak it -------------------------------------------------
def test_spdy_exec_streams_and_status(cri: Cri, tmp_path: Path) -> None:
    _, cid = run_pod(cri, tmp_path)
    url = exec_url(cri, cid, ["sh", "-c", "echo out; echo err >&2; cat; exit 4"], stdin=True, stdout=True, stderr=True)
    client = SpdyClient(url, [V4, "v3.channel.k8s.io", "v2.channel.k8s.io", V1])
    assert client.protocol == V4
    # client-go's order: the error stream first, then stdin, stdout, stderr.
    error = client.open({"streamType": "error"})
    stdin = client.open({"streamType": "stdin"})
    stdout = client.open({"streamType": "stdout"})
    stderr = client.open({"streamType": "stderr"})
    client.send(stdin, b"from-stdin\n", fin=True)  # FIN: the end of the command's input
    assert client.until(lambda c: {error, stdout, stderr} <= c.fin), (client.data, client.fin)
    client.shutdown()
    assert {error, stdin, stdout, stderr} <= client.replied, "every stream answered (SYN_REPLY)"
    assert client.text(stdout) == "out\nfrom-stdin\n" and client.text(stderr) == "err\n", client.data
    status = json.loads(client.text(error))
    assert status["reason"] == "NonZeroExitCode" and status["details"] == {
        "causes": [{"reason": "ExitCode", "message": "4"}]}, status

    # A protocol the server does not speak: 403, as the kubelet's handshake answers; the token is not used.
    url = exec_url(cri, cid, ["true"], stdout=True)
    with pytest.raises(HandshakeRefused) as refused:
        SpdyClient(url, ["v9.channel.k8s.io"])
    assert refused.value.status == 403
    client = SpdyClient(url, [V4])
    error, stdout = client.open({"streamType": "error"}), client.open({"streamType": "stdout"})
    assert client.until(lambda c: error in c.fin), client.data
    client.shutdown()
    assert client.text(error).encode() == SUCCESS


def test_spdy_exec_tty_resize(cri: Cri, tmp_path: Path) -> None:
    _, cid = run_pod(cri, tmp_path)
    client = SpdyClient(exec_url(cri, cid, ["sh"], tty=True, stdin=True, stdout=True), [V4])
    error = client.open({"streamType": "error"})
    stdin = client.open({"streamType": "stdin"})
    stdout = client.open({"streamType": "stdout"})
    resize = client.open({"streamType": "resize"})
    client.send(resize, json.dumps({"Width": 97, "Height": 31}).encode() + b"\n")
    client.send(stdin, b"stty size\n")
    assert client.until(lambda c: "31 97" in c.text(stdout)), client.data
    client.send(stdin, b"exit 0\n")
    assert client.until(lambda c: error in c.fin), client.data
    client.shutdown()
    assert client.text(error).encode() == SUCCESS


def test_spdy_port_forward(cri: Cri, tmp_path: Path) -> None:
    sandbox_id, _ = run_pod(cri, tmp_path, command=[
        "sh", "-c", "mkdir -p /www && echo hello-over-spdy > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"])
    pb = cri.pb

    def forward() -> str | None:
        url = cri.rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=sandbox_id, port=[8080])).url
        client = SpdyClient(url, ["portforward.k8s.io"])
        assert client.protocol == "portforward.k8s.io"
        # client-go's order: the error stream (closed at once from the client's side), then the data stream.
        error = client.open({"streamType": "error", "port": "8080", "requestID": "0"}, fin=True)
        data = client.open({"streamType": "data", "port": "8080", "requestID": "0"})
        client.send(data, b"GET / HTTP/1.0\r\n\r\n")
        assert client.until(lambda c: data in c.fin and error in c.fin), (client.data, client.fin)
        client.shutdown()
        if "hello-over-spdy" not in client.text(data):
            assert "connect" in client.text(error), client.data  # httpd may not listen yet
            return None
        return client.text(data)

    page = poll("the page through the SPDY port-forward", forward)
    assert page.startswith("HTTP/1.")


# -- a real client-go: kubectl, through a fake API server that proxies to the streaming URL as the kubelet does ------
def kubectl(kubeconfig: str, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Any:
    import shutil
    import subprocess

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("websockets", ["true", "false"])
def test_kubectl_exec(cri: Cri, tmp_path: Path, websockets: str) -> None:
    from tests.integration.fake_apiserver import FakeApiServer

    _, cid = run_pod(cri, tmp_path)
    api = FakeApiServer("web", "app")
    try:
        config = api.kubeconfig(tmp_path)
        env = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets}
        cmd = ["sh", "-c", "echo out-$(cat); echo err >&2; exit 3"]
        api.target = exec_url(cri, cid, cmd, stdin=True, stdout=True, stderr=True)
        done = kubectl(config, "exec", "-i", "web", "-c", "app", "--", *cmd, env=env, stdin="piped\n")
        assert done.returncode == 3, (done, api.requests)
        assert done.stdout == "out-piped\n" and "err\n" in done.stderr, done
        assert "command terminated with exit code 3" in done.stderr, done
    finally:
        api.stop()


def test_kubectl_port_forward_and_attach(cri: Cri, tmp_path: Path) -> None:
    import re
    import shutil
    import socket
    import subprocess

    from tests.integration.fake_apiserver import FakeApiServer

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    sandbox_id, cid = run_pod(cri, tmp_path, stdin=True, command=[
        "sh", "-c", "mkdir -p /www && echo via-kubectl > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && "
                    "while read line; do echo seen-$line; done"])
    api = FakeApiServer("web", "app")
    forward = None
    try:
        config = api.kubeconfig(tmp_path)
        # SPDY: kubectl's port-forward over WebSocket tunnels SPDY through the API server, which a kubelet never sees.
        api.target = cri.rt.PortForward(cri.pb.PortForwardRequest(pod_sandbox_id=sandbox_id)).url
        forward = subprocess.Popen(["kubectl", "--kubeconfig", config, "port-forward", "web", ":8080"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"})
        assert forward.stdout is not None
        line = forward.stdout.readline()
        found = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert found, (line, forward.poll())
        local = int(found.group(1))

        def page() -> str | None:
            with socket.create_connection(("127.0.0.1", local), timeout=30) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            return data.decode(errors="replace") if b"via-kubectl" in data else None

        assert poll("a page through kubectl port-forward", page).startswith("HTTP/1.")
        assert page(), "a second connection over the same session"
        forward.terminate()
        forward.wait(30)

        api.target = cri.rt.Attach(cri.pb.AttachRequest(container_id=cid, stdin=True, stdout=True, stderr=True)).url
        attached = subprocess.Popen(["kubectl", "--kubeconfig", config, "attach", "-i", "web", "-c", "app"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert attached.stdin is not None and attached.stdout is not None
        attached.stdin.write("hello\n")
        attached.stdin.flush()
        seen = attached.stdout.readline()
        attached.terminate()
        attached.wait(30)
        assert seen == "seen-hello\n", (seen, api.requests)
    finally:
        if forward is not None and forward.poll() is None:
            forward.kill()
            forward.wait()
        api.stop()

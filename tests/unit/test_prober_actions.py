"""pyrunc.probe: the pure helpers, and spawn/collect for actions that need no privileges (host netns, loopback)."""

from __future__ import annotations

import os
import signal
import socket

from pyrunc.spec.model import GRPCAction, HTTPHeader, TCPSocketAction
from pyrunc.probe import ActionResult, Target, action, go_quote, join_host_port
from pyrunc.probe import http as probe_http
from tests.probe_wait import wait

HOST = Target(netns=None, pod_ip="127.0.0.1", container_pid=0, exec_config="")


def test_probe_url() -> None:
    assert probe_http.probe_url("HTTP", "10.66.0.2", 8080, "/healthz") == "http://10.66.0.2:8080/healthz"
    assert probe_http.probe_url("HTTPS", "fd00::2", 443, "ready?x=1") == "https://[fd00::2]:443/ready?x=1"


def test_default_headers_and_overrides() -> None:
    assert probe_http.request_headers((), "probe") == [("User-Agent", "kube-probe/1.34"), ("Accept", "*/*")]
    assert probe_http.request_headers((), "lifecycle")[0] == ("User-Agent", "kube-lifecycle/1.34")
    custom = (HTTPHeader("user-agent", "mine"), HTTPHeader("Accept", ""), HTTPHeader("X-A", "1"))
    # A user header replaces the default; an empty Accept/User-Agent removes it.
    assert probe_http.request_headers(custom, "probe") == [("user-agent", "mine"), ("X-A", "1")]


def test_go_quote_and_join() -> None:
    assert go_quote('sh -c "x"') == '"sh -c \\"x\\""'
    assert join_host_port("::1", 80) == "[::1]:80"


def test_collect_maps_exit_statuses(tmp_path: object) -> None:
    for code, result in ((0, True), (1, False), (2, None)):
        r, w = os.pipe()
        os.write(w, b"msg")
        os.close(w)
        os.set_blocking(r, False)
        got = action.collect(action.Spawned(0, r, 2.0), code << 8)
        assert got == ActionResult(result, "msg")
    r, w = os.pipe()
    os.close(w)
    assert action.collect(action.Spawned(0, r, 2.0), signal.SIGKILL) == ActionResult(False, "probe timed out")


def test_tcp_open_and_closed_on_loopback() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # the kernel completes handshakes without accept()
        port = listener.getsockname()[1]
        spawned = action.spawn(TCPSocketAction(port=port), HOST, 1)
        assert spawned.kill_after == 2.0
        assert wait(spawned) == ActionResult(True, "")
    closed = wait(action.spawn(TCPSocketAction(port=port), HOST, 1))  # nobody listens there any more
    assert closed == ActionResult(False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


def test_named_port_missing_is_an_error_not_a_failure() -> None:
    assert wait(action.spawn(TCPSocketAction(port="metrics"), HOST, 1)) == \
        ActionResult(None, "couldn't find port: metrics")


def test_grpc_against_something_that_is_not_http2() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        # It accepts and never answers: the health RPC times out in the child, before the backstop.
        res = wait(action.spawn(GRPCAction(port=port), HOST, 1))
    assert res == ActionResult(False, "timeout: health rpc did not complete within 1s")

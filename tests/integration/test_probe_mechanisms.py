"""Probe and hook mechanisms (pyrunc.probe) against real servers in a network namespace made here.

Network actions setns into that namespace from a forked child, exactly as the supervisor does for a pod;
servers run in it through `nsenter --net`. Traffic stays inside the test's own namespace. exec actions run
against a real busybox pod started through the CLI (network "none").
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, TCPSocketAction
from pyrunc.probe import MAX_OUTPUT, ActionResult, Handler, Target, action
from tests.integration.helpers import Node, _node, sleeper, pod_yaml
from tests.probe_wait import wait

pytestmark = pytest.mark.root

POD_IP = "10.77.0.2"
SILENT_IP = "10.78.0.9"  # its packets are discarded inside the netns (see `netns`): connects time out
HTTP_PORT, HTTPS_PORT, GRPC_PORT, BARE_GRPC_PORT, CLOSED_PORT = 8080, 8443, 9090, 9091, 8081

HTTP_SERVER = textwrap.dedent('''
    import http.server, ssl, sys, time
    addr, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            routes = {
                "/ok": (200, None), "/fail": (503, None), "/notfound": (404, None),
                "/redirect": (302, "/ok"), "/redirect-fail": (302, "/fail"), "/loop": (302, "/loop"),
                "/offhost": (302, "http://10.77.0.99:1/ok"),
            }
            if self.path == "/slow":
                time.sleep(5)
                code, loc = 200, None
            elif self.path.startswith("/headers"):
                want = {"User-Agent": "kube-probe/1.34", "Accept": "*/*", "X-Probe": "yes", "Host": "probe.test"}
                bad = {k: self.headers.get(k) for k, v in want.items() if self.headers.get(k) != v}
                code, loc = (200 if not bad and self.path == "/headers?q=1" else 400), None
            else:
                code, loc = routes.get(self.path, (404, None))
            self.send_response(code)
            if loc:
                self.send_header("Location", loc)
            body = b"body-" + str(code).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((addr, port), H)  # /slow must not hold up the others
    if cert != "-":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert + ".crt", cert + ".key")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready", flush=True)
    srv.serve_forever()
''')

GRPC_SERVER = textwrap.dedent('''
    import sys
    from concurrent import futures
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    if sys.argv[3] == "health":  # else a gRPC server without the health service
        servicer = health.HealthServicer()
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servicer.set("down", health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"{sys.argv[1]}:{sys.argv[2]}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()
''')


def sh(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A network namespace of our own: lo up with POD_IP (a pod's netns, minus the veth), plus a veth pair
    that swallows SILENT_IP's packets."""
    name = f"pyprb{secrets.token_hex(3)}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", name, "addr", "add", f"{POD_IP}/32", "dev", "lo")
        # SILENT_IP: a static neighbour on a veth whose peer (in the same netns) has another MAC, so the
        # peer drops every frame (PACKET_OTHERHOST): SYNs vanish and connects time out, without ARP delays.
        sh("ip", "-n", name, "link", "add", "void0", "type", "veth", "peer", "name", "void1")
        sh("ip", "-n", name, "addr", "add", "10.78.0.1/24", "dev", "void0")
        sh("ip", "-n", name, "link", "set", "void0", "up")
        sh("ip", "-n", name, "link", "set", "void1", "up")
        sh("ip", "-n", name, "neigh", "add", SILENT_IP, "lladdr", "02:00:00:00:00:09", "dev", "void0",
           "nud", "permanent")
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def start_server(netns: str, script: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, str(script), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server listens (or dies: then it is "")
    if line.strip() != "ready":
        proc.kill()
        pytest.fail(f"server {script.name} did not start: {proc.communicate()[1]}")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
def servers(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bool]]:
    """HTTP on 8080, HTTPS on 8443 (when openssl exists) and, when grpcio is importable, gRPC with the health
    service on 9090 and without it on 9091."""
    base = tmp_path_factory.mktemp("servers")
    (base / "http_server.py").write_text(HTTP_SERVER)
    procs = [start_server(netns, base / "http_server.py", POD_IP, str(HTTP_PORT), "-")]
    have = {"https": False, "grpc": False}
    try:
        if shutil.which("openssl"):
            cert = base / "tls"
            sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=probe.test", "-days", "1",
               "-keyout", f"{cert}.key", "-out", f"{cert}.crt")
            procs.append(start_server(netns, base / "http_server.py", POD_IP, str(HTTPS_PORT), str(cert)))
            have["https"] = True
        try:
            import grpc  # noqa: F401
            import grpc_health.v1.health  # noqa: F401
        except ImportError:
            pass
        else:
            (base / "grpc_server.py").write_text(GRPC_SERVER)
            procs.append(start_server(netns, base / "grpc_server.py", POD_IP, str(GRPC_PORT), "health"))
            procs.append(start_server(netns, base / "grpc_server.py", POD_IP, str(BARE_GRPC_PORT), "bare"))
            have["grpc"] = True
        yield have
    finally:
        for proc in procs:
            stop(proc)


def run(handler: Handler, target: Target, timeout: float = 1, **kw: object) -> ActionResult:
    """spawn, then wait the way the supervisor does: the child's exit, or the SIGKILL backstop."""
    return wait(action.spawn(handler, target, timeout, **kw))  # type: ignore[arg-type]


def net_target(netns: str, ip: str = POD_IP) -> Target:
    return Target(netns=netns, pod_ip=ip, container_pid=0, exec_config="")


def http(path: str, port: int = HTTP_PORT, **kw: object) -> HTTPGetAction:
    return HTTPGetAction(port=port, path=path, **kw)  # type: ignore[arg-type]


# --- httpGet -----------------------------------------------------------------------------------------------------
def test_http_success_and_status_codes(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    ok = run(http("/ok"), t)  # the body is our server's: the child really entered the test's netns
    assert ok.result is True and ok.message == "body-200"
    fail = run(http("/fail"), t)
    assert fail == ActionResult(False, "HTTP probe failed with statuscode: 503")
    assert run(http("/notfound"), t) == ActionResult(False, "HTTP probe failed with statuscode: 404")


def test_http_headers_host_and_query(netns: str, servers: dict[str, bool]) -> None:
    headers = (HTTPHeader("X-Probe", "yes"), HTTPHeader("Host", "probe.test"))
    assert run(http("/headers?q=1", http_headers=headers), net_target(netns)).result is True
    # Overriding the default User-Agent is seen by the server (it then answers 400).
    other = headers + (HTTPHeader("User-Agent", "curl"),)
    assert run(http("/headers?q=1", http_headers=other), net_target(netns)).message.endswith("statuscode: 400")


def test_http_named_port(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    assert run(http("/ok", port="web"), t, ports={"web": HTTP_PORT}).result is True
    missing = run(http("/ok", port="nope"), t)
    assert missing == ActionResult(None, "couldn't find port: nope")


def test_http_redirects(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    assert run(http("/redirect"), t) == ActionResult(True, "body-200")
    assert run(http("/redirect-fail"), t) == ActionResult(False, "HTTP probe failed with statuscode: 503")
    off = run(http("/offhost"), t)  # another host: not followed, the 302 itself counts (a warning)
    assert off == ActionResult(True, "Probe terminated redirects, Response body: body-302")
    loop = run(http("/loop"), t)
    assert loop == ActionResult(False, f'Get "http://{POD_IP}:{HTTP_PORT}/loop": stopped after 10 redirects')


def test_http_refused_and_timeouts(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    refused = run(http("/healthz", port=CLOSED_PORT), t)
    assert refused == ActionResult(False, f'Get "http://{POD_IP}:{CLOSED_PORT}/healthz": '
                                          f'dial tcp {POD_IP}:{CLOSED_PORT}: connect: connection refused')
    slow = run(http("/slow"), t)  # the server sleeps 5 s; the child gives up at 1 s by itself
    assert slow == ActionResult(False, f'Get "http://{POD_IP}:{HTTP_PORT}/slow": context deadline exceeded '
                                       '(Client.Timeout exceeded while awaiting headers)')
    silent = run(http("/ok"), net_target(netns, SILENT_IP))
    assert silent.result is False
    assert silent.message == (f'Get "http://{SILENT_IP}:{HTTP_PORT}/ok": dial tcp {SILENT_IP}:{HTTP_PORT}: '
                              'i/o timeout (Client.Timeout exceeded while awaiting headers)')


def test_https_skips_certificate_checks(netns: str, servers: dict[str, bool]) -> None:
    if not servers["https"]:
        pytest.skip("openssl is not installed: no certificate for the HTTPS server")
    t = net_target(netns)
    assert run(http("/ok", port=HTTPS_PORT, scheme="HTTPS"), t) == ActionResult(True, "body-200")
    assert run(http("/fail", port=HTTPS_PORT, scheme="HTTPS"), t).message.endswith("statuscode: 503")


def test_http_lifecycle_hook_accepts_any_response(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    assert run(http("/fail"), t, purpose="lifecycle").result is True
    assert run(http("/ok", port=CLOSED_PORT), t, purpose="lifecycle").result is False


# --- tcpSocket ---------------------------------------------------------------------------------------------------
def test_tcp_open_closed_and_timeout(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    assert run(TCPSocketAction(port=HTTP_PORT), t) == ActionResult(True, "")
    closed = run(TCPSocketAction(port=CLOSED_PORT), t)
    assert closed == ActionResult(False, f"dial tcp {POD_IP}:{CLOSED_PORT}: connect: connection refused")
    silent = run(TCPSocketAction(port=HTTP_PORT, host=SILENT_IP), t)
    assert silent == ActionResult(False, f"dial tcp {SILENT_IP}:{HTTP_PORT}: i/o timeout")


# --- grpc --------------------------------------------------------------------------------------------------------
def need_grpc(servers: dict[str, bool]) -> None:
    if not servers["grpc"]:
        pytest.skip("grpcio/grpcio-health-checking not importable: pip install grpcio grpcio-health-checking")


def test_grpc_serving_not_serving_unknown(netns: str, servers: dict[str, bool]) -> None:
    need_grpc(servers)
    t = net_target(netns)
    assert run(GRPCAction(port=GRPC_PORT), t) == ActionResult(True, "service is serving")
    down = run(GRPCAction(port=GRPC_PORT, service="down"), t)
    assert down == ActionResult(False, 'service unhealthy (responded with "NOT_SERVING")')
    # grpcio's health servicer sets NOT_FOUND without a message (grpc-go's says "unknown service").
    unknown = run(GRPCAction(port=GRPC_PORT, service="nope"), t)
    assert unknown == ActionResult(False, "error: health rpc probe failed: rpc error: code = NotFound desc = ")


def test_grpc_server_without_health_service(netns: str, servers: dict[str, bool]) -> None:
    need_grpc(servers)
    bare = run(GRPCAction(port=BARE_GRPC_PORT), net_target(netns))
    assert bare == ActionResult(False, "this server doesn't implement the grpc health protocol "
                                       "(grpc.health.v1.Health): Method not found!")


def test_grpc_connection_failures(netns: str, servers: dict[str, bool]) -> None:
    t = net_target(netns)
    refused = run(GRPCAction(port=CLOSED_PORT), t)
    assert refused == ActionResult(False, f'error: failed to connect service at "{POD_IP}:{CLOSED_PORT}": '
                                          f"dial tcp {POD_IP}:{CLOSED_PORT}: connect: connection refused")
    silent = run(GRPCAction(port=GRPC_PORT), net_target(netns, SILENT_IP))
    assert silent == ActionResult(False, f'timeout: failed to connect service "{SILENT_IP}:{GRPC_PORT}" '
                                         "within 1s: context deadline exceeded")
    not_h2 = run(GRPCAction(port=HTTP_PORT), t)  # an HTTP/1.1 server answers the preface with an error
    assert not_h2.result is False and not_h2.message.startswith("error: health rpc probe failed:")


# --- exec --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Target]]:
    """A running busybox pod (no network) and the Target of its container."""
    nodes = _node(tmp_path_factory.mktemp("node"), network="none")
    n = next(nodes)
    try:
        n.apply(pod_yaml("probes", sleeper("app", "    env:\n    - {name: GREETING, value: hello}\n")))
        n.wait_running("probes")
        cdir = n.pod_dir("probes") / "containers" / "app"
        procs = tuple(f"{d}/cgroup.procs" for d in (n.state("probes", "app").get("cgroupPaths") or {}).values())
        yield n, Target(netns=None, pod_ip="", container_pid=n.container_pid("probes", "app"),
                        exec_config=str(cdir / "config.json"), cgroup_procs=procs)
        n.delete("probes")
    finally:
        nodes.close()  # the node's teardown: force-deletes what is left and checks for leftovers


def exec_action(*argv: str) -> ExecAction:
    return ExecAction(command=tuple(argv))


def test_exec_success_runs_inside_the_container(pod: tuple[Node, Target]) -> None:
    _, t = pod
    assert run(exec_action("sh", "-c", 'test "$GREETING" = hello && test -x /bin/busybox'), t).result is True
    # It is the container's mount namespace: the directory of these tests, on the host, does not exist there.
    assert run(exec_action("test", "-d", str(Path(__file__).resolve().parent)), t).result is False


def test_exec_joins_the_container_cgroups(pod: tuple[Node, Target]) -> None:
    _, t = pod
    if not t.cgroup_procs:
        pytest.skip("the pod records no cgroup paths")
    res = run(exec_action("sh", "-c", "cat /proc/self/cgroup; exit 1"), t)  # output is reported on failure
    with open(f"/proc/{t.container_pid}/cgroup", encoding="utf-8") as f:
        expected = f.read()
    assert res.result is False and sorted(res.message.splitlines()) == sorted(expected.splitlines())


def test_exec_failure_reports_the_output(pod: tuple[Node, Target]) -> None:
    _, t = pod
    res = run(exec_action("sh", "-c", "echo out; echo err >&2; exit 1"), t)
    assert res == ActionResult(False, "out\nerr\n")
    big = run(exec_action("sh", "-c", "yes x | head -c 20000; exit 3"), t)
    assert big.result is False and big.message == "x\n" * (MAX_OUTPUT // 2)


def test_exec_missing_binary_fails_with_the_reason(pod: tuple[Node, Target]) -> None:
    _, t = pod
    res = run(exec_action("no-such-tool"), t)
    assert res.result is False and 'exec: "no-such-tool": executable file not found in $PATH' in res.message


def test_exec_timeout_kills_the_command(pod: tuple[Node, Target]) -> None:
    _, t = pod
    res = run(exec_action("sleep", "5"), t, timeout=1)
    assert res == ActionResult(False, 'command "sleep 5" timed out')
    # The command itself was killed (and reaped): no `sleep 5` is left in the container's pid namespace.
    pidns = os.readlink(f"/proc/{t.container_pid}/ns/pid")
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep\x005" and _pidns(p) == pidns]


def test_exec_gone_container_is_unknown(pod: tuple[Node, Target], tmp_path: Path) -> None:
    _, t = pod
    gone = Target(netns=None, pod_ip="", container_pid=2 ** 22 + 1, exec_config=t.exec_config)
    res = run(exec_action("true"), gone)
    assert res.result is None and "is not running" in res.message


def _pidns(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", encoding="utf-8", errors="replace") as f:
            return f.read().rstrip("\x00")
    except OSError:
        return ""

"""Probe and hook actions: each one is a forked child whose exit status is the result.

    supervisor (single-threaded loop)               action child
      spawn(handler, target, timeout) ── fork ───▶  default SIGCHLD/SIGTERM, no wakeup fd; every fd closed
                                                    but the message pipe, not dumpable, a new session
        -> Spawned(pid, message_fd, kill_after)     exec:  join the container (runtime/exec.py), run argv
      loop.watch_child(pid, ...)                    net:   setns(target.netns), then HTTP / TCP / gRPC
      loop.call_later(kill_after, SIGKILL pid)      every step bounded by `timeout`
                                              ◀───  one message into the pipe, _exit(0 | 1 | 2)
      on exit: collect(spawned, status) -> ActionResult(result, message)

Exit status: 0 success, 1 failure, 2 error. "Error" is the kubelet's "probe errored" (the runtime could not run
the probe, e.g. the container is gone or a named port does not exist): the kubelet throws that result away, so
`ActionResult.result` is None. A child killed by the caller's backstop is a failure.

Messages are worded like the kubelet's (pkg/probe/{exec,http,tcp,grpc}), which quotes Go's net errors:
`Get "http://10.66.0.2:8080/healthz": dial tcp 10.66.0.2:8080: connect: connection refused`.
Heavy modules (http.client, ssl, the exec machinery) are imported in the child only.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence, Union

from pyrunc.spec.model import ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, TCPSocketAction

if TYPE_CHECKING:
    import http.client
    import urllib.parse

Handler = Union[ExecAction, HTTPGetAction, TCPSocketAction, GRPCAction]

SUCCESS, FAILURE, ERROR = 0, 1, 2
BACKSTOP = 1.0  # the caller SIGKILLs the child this long after `timeout`
MAX_OUTPUT = 10 * 1024  # exec output and HTTP body kept for the message (kubelet maxReadLength / maxRespBodyLength)
MAX_REDIRECTS = 10  # Go's http.Client stops after 10 redirects
KUBE_VERSION = "1.34"
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class Target:
    """Where an action runs: the pod's network and the container's process, config and cgroups."""

    netns: str | None  # a netns file to setns into for network actions (None = host netns, for hostNetwork pods)
    pod_ip: str
    container_pid: int  # the container's first process, as the host sees it (exec joins its namespaces)
    exec_config: str  # the container's config.json (runtime.config.ContainerConfig), for env/user/cwd
    cgroup_procs: tuple[str, ...] = ()  # cgroup.procs files the exec'd command joins


@dataclass(frozen=True, slots=True)
class Spawned:
    pid: int
    message_fd: int  # non-blocking read end; read it once the child has exited (collect / read_message)
    kill_after: float  # seconds after spawn when the caller should SIGKILL the child (timeout + BACKSTOP)


@dataclass(frozen=True, slots=True)
class ActionResult:
    result: bool | None  # True success, False failure, None error (do not count it)
    message: str


class _Failed(Exception):
    """Ends an action early with an exit code and the message for the kubelet-style report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- the caller's side ----------------------------------------------------------------------------------------
def spawn(handler: Handler, target: Target, timeout: float, *, ports: Mapping[str, int] | None = None,
          purpose: str = "probe") -> Spawned:
    """Fork a child that runs `handler` against `target`; never blocks.

    `ports` resolves named ports (container port name -> number). `purpose` is "probe" or "lifecycle": a
    lifecycle httpGet succeeds on any HTTP response (kubelet runHTTPHandler checks only that the request
    completed) and says `User-Agent: kube-lifecycle/<version>`.
    """
    if purpose not in ("probe", "lifecycle"):
        raise ValueError(f"purpose must be 'probe' or 'lifecycle', not {purpose!r}")
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is seen through its exit status
        os.close(r)
        code, message = ERROR, "probe child ended without a result"
        try:
            _reset_inherited_signals()
            _shed_supervisor(w)
            code, message = _run(handler, target, float(timeout), dict(ports or {}), purpose)
        except _Failed as e:
            code, message = e.code, e.message
        except BaseException as e:  # noqa: BLE001 - the child must always report and _exit
            code, message = ERROR, f"{type(e).__name__}: {e}"
        finally:
            try:
                os.write(w, message.encode(errors="replace")[:60000])  # below the 64 KiB pipe buffer: no block
            finally:
                os._exit(code)
    os.close(w)
    os.set_blocking(r, False)
    return Spawned(pid=pid, message_fd=r, kill_after=float(timeout) + BACKSTOP)


def read_message(fd: int) -> str:
    """Everything the child wrote (non-blocking), then close `fd`."""
    chunks = []
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def collect(spawned: Spawned, wait_status: int | None) -> ActionResult:
    """The result of an exited child, from its wait status (None when unknown); closes the message fd."""
    message = read_message(spawned.message_fd)
    if wait_status is None:
        return ActionResult(None, message or "probe process ended with an unknown status")
    if os.WIFSIGNALED(wait_status):
        return ActionResult(False, message or "probe timed out")  # the caller's backstop killed it
    code = os.waitstatus_to_exitcode(wait_status)
    if code == SUCCESS:
        return ActionResult(True, message)
    return ActionResult(False if code == FAILURE else None, message)


# --- the child -------------------------------------------------------------------------------------------------
def _reset_inherited_signals() -> None:
    # The supervisor's loop installed a wakeup fd and SIGCHLD/SIGTERM/SIGINT handlers. In this child they would
    # write into the parent's wakeup pipe and turn SIGTERM into a flag nobody reads.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)


def _shed_supervisor(keep: int) -> None:
    """Nothing of the supervisor's stays in an action child: its request socket, the pods' log pipes, ...

    Closed first thing (after the wakeup fd is gone, so no signal writes into a reused number), not
    dumpable, and a session of its own. An exec action's joiner closes again what this child opened since.
    """
    import gc

    from pyrunc.linux import hygiene

    gc.disable()  # a collected supervisor object would close its old number, which may be reused by then
    hygiene.set_dumpable(False)
    hygiene.close_fds_except([keep])
    os.setsid()


def _run(handler: Handler, target: Target, timeout: float, ports: dict[str, int], purpose: str) -> tuple[int, str]:
    if isinstance(handler, ExecAction):
        return _exec(handler.command, target, timeout)
    if target.netns:
        from pyrunc.linux import syscalls as sc
        sc.setns_path(target.netns, sc.CLONE_NEWNET)  # only this child's network changes; it is single-threaded
    deadline = time.monotonic() + timeout
    if isinstance(handler, HTTPGetAction):
        return _http_get(handler, target.pod_ip, _port(handler.port, ports), deadline, purpose)
    if isinstance(handler, TCPSocketAction):
        host = handler.host or target.pod_ip
        _dial(host, _port(handler.port, ports), deadline).close()
        return SUCCESS, ""
    if isinstance(handler, GRPCAction):
        return _grpc(target.pod_ip, handler.port, handler.service, deadline, timeout)
    return ERROR, f"unsupported handler {type(handler).__name__}"


def _port(port: int | str, ports: Mapping[str, int]) -> int:
    if isinstance(port, int):
        return port
    if port in ports:
        return ports[port]
    raise _Failed(ERROR, f"couldn't find port: {port}")


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def go_quote(text: str) -> str:
    """Go's %q for the strings that appear here (printable text): a double-quoted, escaped string."""
    return json.dumps(text, ensure_ascii=False)


def _errno_text(e: OSError) -> str:
    # Go prints the errno text in lower case ("connection refused"); Python capitalises it.
    text = os.strerror(e.errno) if e.errno else str(e)
    return text[:1].lower() + text[1:]


def _dial(host: str, port: int, deadline: float) -> socket.socket:
    """A TCP connection before `deadline`, or _Failed(FAILURE) worded like Go's net.Dial errors."""
    addr = join_host_port(host, port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise _Failed(FAILURE, f"dial tcp: lookup {host}: no such host") from None
    err: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            err = e
    if err is None or isinstance(err, socket.timeout):
        raise _Failed(FAILURE, f"dial tcp {addr}: i/o timeout")
    raise _Failed(FAILURE, f"dial tcp {addr}: connect: {_errno_text(err)}")


# --- exec ------------------------------------------------------------------------------------------------------
def _exec(command: Sequence[str], target: Target, timeout: float) -> tuple[int, str]:
    """Run the command in the container like `pyrunc exec`; kill it at `timeout` (kubelet ExecProbeTimeout).

    A joiner process (runtime/exec.py `enter_and_run`) enters the container and forks the command; its stdout and
    stderr go to a pipe whose first MAX_OUTPUT bytes are the message (kubelet reports the output on failure).
    """
    from pyrunc.runtime import exec as rexec
    from pyrunc.runtime.config import ContainerConfig

    with open(target.exec_config, encoding="utf-8") as f:
        cfg = ContainerConfig.from_json(f.read())
    try:  # the container is gone: the kubelet's ExecSync errors and the result is thrown away
        os.close(os.open(f"/proc/{target.container_pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
    except OSError as e:
        return ERROR, f"container process {target.container_pid} is not running: {_errno_text(e)}"
    deadline = time.monotonic() + timeout
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:  # pragma: no cover - seen through the command's output and status
        try:  # stdin /dev/null, stdout and stderr the pipe; every other descriptor is closed before joining
            rexec.enter_and_run(cfg, target.container_pid, list(command), target.cgroup_procs,
                                (None, out_w, out_w), out_w)
        finally:
            os._exit(126)
    os.close(out_w)
    try:
        output, status = _wait_with_output(out_r, joiner, deadline)
    finally:
        os.close(out_r)
    if status is None:
        return FAILURE, f"command {go_quote(' '.join(command))} timed out"
    code = os.waitstatus_to_exitcode(status)
    return (SUCCESS if code == 0 else FAILURE), output


def _wait_with_output(out_r: int, joiner: int, deadline: float) -> tuple[str, int | None]:
    """Read the command's output until the joiner exits; (output, wait status), status None on timeout.

    The end is the joiner's exit, not EOF: a background process the command left behind may hold the pipe.
    """
    pidfd = os.pidfd_open(joiner)
    kept = bytearray()
    out_open = True
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_command(joiner, pidfd)
                return kept.decode(errors="replace"), None
            ready, _, _ = select.select([pidfd, out_r] if out_open else [pidfd], [], [], left)
            if out_r in ready:
                out_open = _read_some(out_r, kept)  # a readable pipe never blocks one read
            if pidfd in ready:
                os.set_blocking(out_r, False)
                while _read_some(out_r, kept):
                    pass
                _, status = os.waitpid(joiner, 0)
                return kept.decode(errors="replace"), status
    finally:
        os.close(pidfd)


def _read_some(fd: int, kept: bytearray) -> bool:
    """One read into `kept` (capped at MAX_OUTPUT, the rest drained); False at EOF or when nothing is there."""
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return False
    if data and len(kept) < MAX_OUTPUT:
        kept += data[:MAX_OUTPUT - len(kept)]
    return bool(data)


def _kill_command(joiner: int, pidfd: int) -> None:
    """SIGKILL the command (the joiner's child, inside the container), let the joiner reap it, then reap the joiner.

    Killing only the joiner would leave the command running, re-parented to the container's PID 1, which may
    never reap it. /proc/PID/task/PID/children needs CONFIG_PROC_CHILDREN (on in Debian/Ubuntu/Fedora kernels).
    """
    try:
        with open(f"/proc/{joiner}/task/{joiner}/children", encoding="ascii") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not children or not select.select([pidfd], [], [], 1.0)[0]:
        try:
            os.kill(joiner, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.waitpid(joiner, 0)


# --- httpGet ---------------------------------------------------------------------------------------------------
def probe_url(scheme: str, host: str, port: int, path: str) -> str:
    """kubelet formatURL: scheme://host:port + the path (with its query), always with a leading slash."""
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme.lower()}://{join_host_port(host, port)}{path}"


def request_headers(headers: Sequence[HTTPHeader], purpose: str) -> list[tuple[str, str]]:
    """The user's headers plus the kubelet's defaults: `User-Agent: kube-probe/1.34` and `Accept: */*`.

    A header the user sets replaces the default; set to "" it removes it (kubelet NewRequestForHTTPGetAction).
    """
    names = {h.name.lower() for h in headers}
    out = [(h.name, h.value) for h in headers if h.value or h.name.lower() not in ("user-agent", "accept")]
    if "user-agent" not in names:
        out.append(("User-Agent", f"kube-{purpose}/{KUBE_VERSION}"))
    if "accept" not in names:
        out.append(("Accept", "*/*"))
    return out


def _http_get(action: HTTPGetAction, pod_ip: str, port: int, deadline: float, purpose: str) -> tuple[int, str]:
    """kubelet DoHTTPProbe: 200 <= status < 400 succeeds; same-host redirects are followed, others end it."""
    import urllib.parse

    host = action.host or pod_ip
    url = first_url = probe_url(action.scheme, host, port, action.path)
    headers = request_headers(action.http_headers, purpose)
    for hops in range(MAX_REDIRECTS + 1):
        status, location, body = _request(url, headers, deadline)
        if status not in REDIRECT_CODES or not location:
            break
        target = urllib.parse.urljoin(url, location)
        if urllib.parse.urlsplit(target).hostname != urllib.parse.urlsplit(first_url).hostname:
            break  # kubelet RedirectChecker: a redirect to another host is not followed (a warning, not a failure)
        if hops + 1 >= MAX_REDIRECTS:
            raise _Failed(FAILURE, f"Get {go_quote(target)}: stopped after {MAX_REDIRECTS} redirects")
        url = target
    if purpose == "lifecycle":
        return SUCCESS, ""
    if 200 <= status < 300:
        return SUCCESS, body
    if 300 <= status < 400:
        return SUCCESS, f"Probe terminated redirects, Response body: {body}"
    return FAILURE, f"HTTP probe failed with statuscode: {status}"


def _request(url: str, headers: list[tuple[str, str]], deadline: float) -> tuple[int, str, str]:
    """One GET; (status, Location, first MAX_OUTPUT bytes of the body). Errors become _Failed like Go's client."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    quoted = go_quote(url)
    try:
        sock = _dial(host, port, deadline)
    except _Failed as e:
        suffix = " (Client.Timeout exceeded while awaiting headers)" if e.message.endswith("i/o timeout") else ""
        raise _Failed(FAILURE, f"Get {quoted}: {e.message}{suffix}") from None
    try:
        if parts.scheme == "https":
            sock = _tls(sock, host)
        conn = http.client.HTTPConnection(host, port)
        conn.sock = sock  # already connected (and wrapped): HTTPConnection only sends and parses
        _send_request(conn, parts, headers)
        resp = conn.getresponse()
        body = resp.read(MAX_OUTPUT).decode(errors="replace")
        return resp.status, resp.getheader("Location", ""), body
    except socket.timeout:
        raise _Failed(FAILURE, f"Get {quoted}: context deadline exceeded "
                               "(Client.Timeout exceeded while awaiting headers)") from None
    except (OSError, http.client.HTTPException) as e:
        if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError)):
            detail = "EOF"  # Go's words when the server closes the connection before answering
        elif isinstance(e, OSError) and e.errno:
            detail = _errno_text(e)
        else:
            detail = str(e) or type(e).__name__
        raise _Failed(FAILURE, f"Get {quoted}: {detail}") from None
    finally:
        sock.close()


def _send_request(conn: http.client.HTTPConnection, parts: urllib.parse.SplitResult,
                  headers: list[tuple[str, str]]) -> None:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    # The Host header is the URL's host:port unless the user sets one (kubelet copies it into req.Host).
    host_header = next((v for k, v in headers if k.lower() == "host"), parts.netloc)
    conn.putheader("Host", host_header)
    for name, value in headers:
        if name.lower() != "host":
            conn.putheader(name, value)
    conn.putheader("Connection", "close")  # the kubelet's probe transport disables keep-alives
    conn.endheaders()


def _tls(sock: socket.socket, host: str) -> socket.socket:
    """HTTPS without certificate checks, as the kubelet does (InsecureSkipVerify)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=host)


# --- grpc ------------------------------------------------------------------------------------------------------
def _grpc(host: str, port: int, service: str, deadline: float, timeout: float) -> tuple[int, str]:
    """kubelet pkg/probe/grpc: success iff the health service answers SERVING."""
    from pyrunc.supervisor import grpc_health as gh

    addr = join_host_port(host, port)
    within = f"{timeout:g}s"
    try:
        sock = _dial(host, port, deadline)
    except _Failed as e:
        if e.message.endswith("i/o timeout"):
            return FAILURE, (f"timeout: failed to connect service {go_quote(addr)} within {within}: "
                             "context deadline exceeded")
        return FAILURE, f"error: failed to connect service at {go_quote(addr)}: {e.message}"
    try:
        status = gh.check(sock, addr, service, deadline)
    except socket.timeout:
        return FAILURE, f"timeout: health rpc did not complete within {within}"
    except gh.GrpcError as e:
        if e.code == gh.UNIMPLEMENTED:
            return FAILURE, ("this server doesn't implement the grpc health protocol (grpc.health.v1.Health): "
                             f"{e.message}")
        return FAILURE, f"error: health rpc probe failed: {e}"
    except (gh.ProtocolError, OSError) as e:
        return FAILURE, f"error: health rpc probe failed: {e}"
    finally:
        sock.close()
    if status != gh.SERVING:
        name = gh.SERVING_STATUS.get(status, str(status))
        return FAILURE, f"service unhealthy (responded with {go_quote(name)})"
    return SUCCESS, "service is serving"

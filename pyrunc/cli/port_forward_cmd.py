"""pyrunc port-forward POD [LOCAL:]REMOTE ... [--address ADDR]: local TCP ports forwarded to a pod, as kubectl.

Listens on 127.0.0.1 only unless --address says otherwise (kubectl's rule: a forward is for this host's own
users; exposing it further is asked for by name). Each accepted connection gets its own connection to
127.0.0.1:REMOTE *inside the pod's network namespace*, made as the kubelet's CRI runtime makes it
(containerd's portforward enters the sandbox's netns and dials localhost there): a short-lived child process
setns()es into the pod's pinned netns file (store/layout.py `ns/net`), connects, and hands the connected
socket back over a socketpair (SCM_RIGHTS), then exits. The socket keeps its namespace for its whole life,
so this process relays bytes between the two sockets in one select() loop, on the host side of nothing.
A hostNetwork pod's ports are the host's: the child connects without entering any namespace.

The forward ends on Ctrl-C (exit 0, as kubectl), or with `error: lost connection to pod` when the pod is
deleted or re-created (checked once a second).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import signal
import socket
import sys
from typing import Any, NamedTuple

from pyrunc.cli.view import add_namespace_flag, load_pod
from pyrunc.errors import PyruncError

CHUNK = 65536
CONNECT_TIMEOUT = 10.0  # seconds for the child's connect inside the pod
CHECK_EVERY = 1.0  # seconds between checks that the pod is still there


class Forward(NamedTuple):
    local: int  # 0: a port the kernel picks
    remote: int | str  # a number, or a container port's name (resolved from the spec)


def parse_ports(words: list[str]) -> list[Forward]:
    """kubectl's forms: `8080:80`, `80` (the same port locally), `:80` (a random local port), `8080:http`,
    `http` (the named port's number on both sides)."""
    out = []
    for word in words:
        parts = word.split(":")
        if len(parts) > 2:
            raise PyruncError(f"invalid port format '{word}'")
        local, remote = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        if not remote:
            raise PyruncError(f"Error parsing remote port '{word}': the port is missing")
        remote_port: int | str = remote
        if remote.isdigit():
            remote_port = int(remote)
            if not 0 < remote_port < 65536:
                raise PyruncError(f"Error parsing remote port '{remote}': must be in the range 1 to 65535")
        if len(parts) == 1 and isinstance(remote_port, str):
            out.append(Forward(-1, remote_port))  # resolved with the name
            continue
        if local and not local.isdigit():
            raise PyruncError(f"Error parsing local port '{local}': not a port number")
        local_port = int(local) if local else 0
        if local_port > 65535:
            raise PyruncError(f"Error parsing local port '{local}': must be in the range 0 to 65535")
        out.append(Forward(local_port, remote_port))
    return out


def resolve_ports(pod: dict[str, Any], forwards: list[Forward]) -> list[tuple[int, int]]:
    """Named container ports of the spec replaced by their numbers (kubectl's convertPodNamedPortToNumber)."""
    named: dict[str, int] = {}
    for c in pod["spec"].get("containers", []):
        for p in c.get("ports") or []:
            if p.get("name") and (p.get("protocol") or "TCP") == "TCP":
                named.setdefault(p["name"], int(p["containerPort"]))
    out = []
    for f in forwards:
        if isinstance(f.remote, int):
            out.append((f.local, f.remote))
            continue
        if f.remote not in named:
            raise PyruncError(f"Pod '{pod['metadata']['name']}' does not have a named port '{f.remote}'")
        number = named[f.remote]
        out.append((number if f.local == -1 else f.local, number))
    return out


def listen_addresses(value: str) -> list[str]:
    """--address: IP addresses or `localhost` (127.0.0.1 and, where the host has it, ::1), comma-separated."""
    out = []
    for a in (x.strip() for x in value.split(",")):
        if a == "localhost":
            out += ["127.0.0.1", "::1"]
            continue
        try:
            out.append(str(ipaddress.ip_address(a)))
        except ValueError:
            raise PyruncError(f"--address: {a!r} is not an IP address or localhost") from None
    return list(dict.fromkeys(out))


def add_arguments(parser: Any) -> None:
    parser.add_argument("name", help="pod NAME or pod/NAME")
    parser.add_argument("ports", nargs="+", metavar="[LOCAL:]REMOTE")
    parser.add_argument("--address", default="127.0.0.1",
                        help="addresses to listen on, comma-separated (default 127.0.0.1; 0.0.0.0 only if you mean it)")
    add_namespace_flag(parser)


def run(cfg: Any, args: Any) -> int:
    from pyrunc.store.atomic import read_json

    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    forwards = parse_ports(args.ports)
    addresses = listen_addresses(args.address)
    layout, pod = load_pod(cfg, args.namespace, name)
    if pod["status"]["phase"] != "Running":
        raise PyruncError(f"unable to forward port because pod is not running. Current status={pod['status']['phase']}")
    ports = resolve_ports(pod, forwards)
    sandbox = read_json(layout.sandbox_json) or {}
    host_network = bool(pod["spec"].get("hostNetwork"))
    netns = None if host_network else layout.ns_file("net")
    if not host_network and (sandbox.get("namespaces") or {}).get("net") != netns:
        raise PyruncError(f'pod "{name}" has no network namespace of its own recorded: nothing to forward to')
    uid = pod["metadata"].get("uid")

    def pod_is_there() -> bool:
        manifest = read_json(layout.pod_json) or {}
        return (manifest.get("metadata") or {}).get("uid") == uid and (netns is None or _is_netns(netns))

    forwarder = Forwarder(netns)
    try:
        for local, remote in ports:
            forwarder.listen(addresses, local, remote)
        sys.stdout.flush()
        signal.signal(signal.SIGTERM, lambda _s, _f: _raise_interrupt())
        return forwarder.serve(pod_is_there)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a forward is meant to end
    finally:
        forwarder.close()


def _raise_interrupt() -> None:
    raise KeyboardInterrupt


def _is_netns(path: str) -> bool:
    """`path` is still a network namespace (the pin is gone once the pod is deleted) and not ours."""
    try:
        st, ours = os.stat(path), os.stat("/proc/self/ns/net")
    except OSError:
        return False
    return st.st_dev == ours.st_dev and st.st_ino != ours.st_ino


# --- the connection made inside the pod -------------------------------------------------------------------------
def _connect_child(netns: str | None, port: int, sock: socket.socket) -> None:
    """In a fresh child: enter the pod's netns, connect to its localhost:port, send the socket back; exit."""
    try:
        if netns is not None:
            from pyrunc.linux import syscalls as sc

            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            ours = os.stat("/proc/self/ns/net")
            st = os.fstat(fd)
            # The opened file itself is checked, not the path: a namespace, and not the host's.
            if st.st_dev != ours.st_dev or st.st_ino == ours.st_ino:
                raise OSError(errno.ENOENT, "the pod's network namespace is gone")
            sc.setns(fd, sc.NS_FLAGS["net"])
            os.close(fd)
        conn, error = None, ""
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            s.settimeout(CONNECT_TIMEOUT)
            try:
                s.connect((host, port))
                conn = s
                break
            except OSError as e:  # containerd tries IPv4 localhost, then IPv6
                error = error or f"failed to connect to localhost:{port} inside the pod's network namespace: {e.strerror or e}"
                s.close()
        if conn is None:
            sock.send(error.encode())
        else:
            socket.send_fds(sock, [b"ok"], [conn.fileno()])
    except BaseException as e:  # noqa: BLE001
        try:
            sock.send(f"cannot enter the pod's network namespace: {e}".encode())
        except OSError:
            pass
    finally:
        os._exit(0)


class Pending(NamedTuple):
    sock: socket.socket  # our end of the socketpair the child answers on
    child: int
    client: socket.socket
    local: int
    remote: int


class Pipe:
    """One direction of a forwarded connection."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.buf = b""
        self.eof = False
        self.shut = False

    def wants_read(self) -> bool:
        return not self.eof and not self.buf

    def read(self) -> None:
        try:
            data = self.src.recv(CHUNK)
        except BlockingIOError:
            return
        if data:
            self.buf = data
        else:
            self.eof = True

    def write(self) -> None:
        try:
            n = self.dst.send(self.buf)
        except BlockingIOError:
            return
        self.buf = self.buf[n:]

    def done(self) -> bool:
        if self.eof and not self.buf and not self.shut:
            self.shut = True
            try:
                self.dst.shutdown(socket.SHUT_WR)  # half-close passed on: HTTP/1.0 clients rely on it
            except OSError:
                pass
        return self.shut


class Forwarder:
    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self.listeners: dict[socket.socket, tuple[int, int]] = {}  # -> (local port, remote port)
        self.pending: list[Pending] = []
        self.conns: list[tuple[Pipe, Pipe]] = []

    def listen(self, addresses: list[str], local: int, remote: int) -> None:
        errors = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, local))
                s.listen(128)
            except OSError as e:
                s.close()
                errors.append(f"{_host_port(address, local)}: {e.strerror or e}")
                continue
            if local == 0:  # one random port for every address, as kubectl
                local = s.getsockname()[1]
            s.setblocking(False)
            self.listeners[s] = (local, remote)
            print(f"Forwarding from {_host_port(address, local)} -> {remote}", flush=True)
        if not any(v[0] == local for v in self.listeners.values()):
            raise PyruncError(f"unable to listen on port {local}: {'; '.join(errors)}")

    def serve(self, pod_is_there: Any) -> int:
        import time

        next_check = time.monotonic() + CHECK_EVERY
        while True:
            rlist: list[Any] = list(self.listeners) + [p.sock for p in self.pending]
            wlist: list[Any] = []
            for a, b in self.conns:
                for pipe in (a, b):
                    if pipe.wants_read():
                        rlist.append(pipe.src)
                    if pipe.buf:
                        wlist.append(pipe.dst)
            readable, writable, _ = select.select(rlist, wlist, [], CHECK_EVERY)
            for s in readable:
                if s in self.listeners:
                    self._accept(s)
            for p in [p for p in self.pending if p.sock in readable]:
                self._connected(p)
            for conn in list(self.conns):
                self._pump(conn, readable, writable)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + CHECK_EVERY
                if not pod_is_there():
                    print("error: lost connection to pod", file=sys.stderr)
                    return 1

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except BlockingIOError:
            return
        local, remote = self.listeners[listener]
        print(f"Handling connection for {local}", flush=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sys.stdout.flush()
        child = os.fork()
        if child == 0:  # pragma: no cover - seen through the forwarded bytes
            ours.close()
            client.close()
            _connect_child(self.netns, remote, theirs)
        theirs.close()
        self.pending.append(Pending(ours, child, client, local, remote))

    def _connected(self, p: Pending) -> None:
        self.pending.remove(p)
        try:
            msg, fds, _, _ = socket.recv_fds(p.sock, 4096, 1)
        except OSError as e:
            msg, fds = str(e).encode(), []
        p.sock.close()
        os.waitpid(p.child, 0)
        if not fds:
            text = msg.decode(errors="replace") or "the connecting process died"
            print(f"an error occurred forwarding {p.local} -> {p.remote}: {text}", file=sys.stderr, flush=True)
            p.client.close()
            return
        remote = socket.socket(fileno=fds[0])
        for s in (p.client, remote):
            s.setblocking(False)
        self.conns.append((Pipe(p.client, remote), Pipe(remote, p.client)))

    def _pump(self, conn: tuple[Pipe, Pipe], readable: list[Any], writable: list[Any]) -> None:
        try:
            for pipe in conn:
                if pipe.buf and pipe.dst in writable:
                    pipe.write()
                if pipe.wants_read() and pipe.src in readable:
                    pipe.read()
        except OSError:  # reset by either side: the whole connection goes, as kubectl's stream does
            conn[0].eof = conn[1].eof = True
            conn[0].buf = conn[1].buf = b""
            conn[0].shut = conn[1].shut = True
        if all([pipe.done() for pipe in conn]):  # a list: each pipe passes its half-close on, every time
            self.conns.remove(conn)
            conn[0].src.close()
            conn[0].dst.close()

    def close(self) -> None:
        for s in self.listeners:
            s.close()
        for p in self.pending:
            p.sock.close()
            p.client.close()
            try:
                os.kill(p.child, signal.SIGKILL)
                os.waitpid(p.child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for a, _ in self.conns:
            a.src.close()
            a.dst.close()


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

"""A TCP connection to a pod's localhost, made inside the pod's network namespace and handed back (CRI PortForward).

The CRI server (`pyrunc cri`, pyrunc/cri/streaming*.py) runs grpcio and HTTP threads: it must neither fork
(a fork of a threaded process may inherit a lock another thread held) nor setns() a thread of its own (the
namespace would stay with that thread of the pool). So, as `pyrunc exec` hands its exec over, it asks the
supervisor on the exec socket:

    {"op": "pod-connect", "protocol": P, "namespace": NS, "pod": NAME, "port": N}   (no descriptors)

The supervisor checks the pod and forks a child that enters the pod's pinned network namespace
(store/layout.py `ns/net`), connects to 127.0.0.1:N (then [::1]:N, as containerd's port-forward tries), sends the
connected socket back on the connection (SCM_RIGHTS, with the line "ok") or one line of error text, and exits.
The socket keeps its namespace for its whole life: the CRI server relays its bytes from the host side.
A host-network pod's ports are the host's: the child connects without entering a namespace.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import signal
import socket
from typing import Any, NoReturn

from pyrunc.errors import PyruncError
from pyrunc.linux import hygiene
from pyrunc.store.atomic import read_json
from pyrunc.store.layout import PodLayout, valid_label, valid_name

CONNECT_TIMEOUT = 10.0  # seconds for the connect inside the pod


def prepare(root: str, req: dict[str, Any]) -> tuple[str | None, int]:
    """The pod's network namespace file (None: the host's network) and the port; a PyruncError when the request
    is wrong or the pod has no network namespace of its own recorded."""
    namespace, name, port = req.get("namespace"), req.get("pod"), req.get("port")
    if not (isinstance(namespace, str) and isinstance(name, str) and valid_label(namespace) and valid_name(name)):
        raise PyruncError("pod-connect: bad request: namespace and pod must be names")
    if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
        raise PyruncError("pod-connect: bad request: port must be a number from 1 to 65535")
    layout = PodLayout(root, namespace, name)
    manifest = read_json(layout.pod_json) or {}
    if not manifest:
        raise PyruncError(f"pod-connect: no pod {namespace}/{name}")
    if (manifest.get("spec") or {}).get("hostNetwork"):
        return None, port
    sandbox = read_json(layout.sandbox_json) or {}
    netns = layout.ns_file("net")
    if (sandbox.get("namespaces") or {}).get("net") != netns:
        raise PyruncError(f"pod-connect: pod {namespace}/{name} has no network namespace of its own recorded")
    return netns, port


def start(conn: int, netns: str | None, port: int) -> int:
    """Fork the connecting child for connection `conn`; its pid. The caller closes its own copy of `conn`."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - seen through the forwarded bytes
        _child(conn, netns, port)
    return pid


def _child(conn: int, netns: str | None, port: int) -> NoReturn:
    try:
        signal.set_wakeup_fd(-1)  # as the exec child (exec_handoff.py): the loop's wakeup fd is the supervisor's
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        gc.disable()
        logging.disable(logging.CRITICAL)
        hygiene.close_fds_except([conn])
        os.set_blocking(conn, True)
        sock = socket.socket(fileno=conn)
        try:
            connected = _connect(netns, port)
        except OSError as e:
            sock.sendall(f"{e.strerror or e}\n".encode())
        else:
            socket.send_fds(sock, [b"ok\n"], [connected.fileno()])
    except BaseException:  # noqa: BLE001 - the caller sees the connection close without "ok"
        pass
    finally:
        os._exit(0)


def _connect(netns: str | None, port: int) -> socket.socket:
    if netns is not None:
        from pyrunc.linux import syscalls as sc

        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        ours, st = os.stat("/proc/self/ns/net"), os.fstat(fd)
        # The opened file itself is checked, not the path: a namespace, and not the host's.
        if st.st_dev != ours.st_dev or st.st_ino == ours.st_ino:
            raise OSError(errno.ENOENT, "the pod's network namespace is gone")
        sc.setns(fd, sc.NS_FLAGS["net"])
        os.close(fd)
    error: OSError | None = None
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.settimeout(CONNECT_TIMEOUT)
        try:
            s.connect((host, port))
            s.settimeout(None)
            return s
        except OSError as e:
            error = error or OSError(e.errno, f"failed to connect to localhost:{port} inside the pod's network "
                                              f"namespace: {e.strerror or e}")
            s.close()
    assert error is not None
    raise error

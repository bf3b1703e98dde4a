"""pyrunc attach POD [-c C] [-i] [-t]: attach to a running container's main process, as kubectl attach.

The supervisor holds the container's stdio (its log pipes, and its stdin pipe or terminal master when the
spec asks for `stdin: true` / `tty: true`) and serves it on the container's attach socket
(runtime/attach.py). This command connects there and relays: the output to our stdout/stderr, and with -i
our stdin to the container (with -t in raw mode, the window size following ours). Without -i only the
output is streamed. It ends when the container's output ends; Ctrl-C detaches (without -t: with -t it is
a byte for the container's terminal, as in kubectl).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
from typing import Any

from pyrunc.cli.view import add_namespace_flag, load_pod, pick_container
from pyrunc.errors import PyruncError


def add_arguments(parser: Any) -> None:
    parser.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    parser.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print output from the remote session")
    parser.add_argument("-c", "--container")
    add_namespace_flag(parser)
    parser.add_argument("name", help="pod NAME or pod/NAME")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.runtime import attach as wire
    from pyrunc.store.atomic import read_json

    name = args.name.split("/", 1)[1] if args.name.startswith(("pod/", "pods/", "po/")) else args.name
    layout, pod = load_pod(cfg, args.namespace, name)
    container = pick_container(pod, args.container)
    if pod["status"]["phase"] in ("Succeeded", "Failed"):
        raise PyruncError(f"cannot attach a container in a completed pod; current phase is {pod['status']['phase']}")
    spec = next(c for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"] if c["name"] == container)
    record = read_json(layout.container_record(container)) or {}
    if record.get("state") != "RUNNING":
        raise PyruncError(f'container {container} is not running in pod "{name}"')
    stdin = args.stdin
    if stdin and not spec.get("stdin"):
        raise PyruncError(f'container {container}: -i needs a container started with "stdin: true"')
    tty = stdin and args.tty  # kubectl's rule: a TTY only with -i
    if tty and not spec.get("tty"):
        print(f"error: Unable to use a TTY - container {container} did not allocate one", file=sys.stderr)
        tty = False
    if tty and not os.isatty(0):
        print("Unable to use a TTY - input is not a terminal or the right kind of file", file=sys.stderr)
        tty = False

    dir_fd = os.open(layout.container_dir(container), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(wire.socket_path(dir_fd))
    except OSError as e:
        sock.close()
        raise PyruncError(f'cannot attach to container {container} in pod "{name}": {e.strerror}') from None
    finally:
        os.close(dir_fd)
    with sock:
        sock.sendall(wire.frame(wire.HELLO, json.dumps({"stdin": stdin}).encode()))
        if tty:
            if not args.quiet:
                print("If you don't see a command prompt, try pressing enter.", file=sys.stderr, flush=True)
            return _relay_tty(sock)
        try:
            return _relay(sock, stdin)
        except KeyboardInterrupt:
            return 0  # Ctrl-C without a terminal: detach, the container runs on


def _send_winsize(sock: socket.socket) -> None:
    from pyrunc.linux import terminal
    from pyrunc.runtime import attach as wire

    size = terminal.get_winsize(0)
    if size is not None:
        rows, cols, _, _ = struct.unpack(terminal.WINSIZE, size)
        try:
            sock.sendall(wire.frame(wire.RESIZE, struct.pack(">HH", rows, cols)))
        except OSError:
            pass


def _relay_tty(sock: socket.socket) -> int:
    from pyrunc.runtime import exec_io

    raw = exec_io.RawTerminal(0, -1)
    old = signal.signal(signal.SIGWINCH, lambda _s, _f: _send_winsize(sock))
    try:
        raw.enter()
        _send_winsize(sock)
        return _relay(sock, True)
    finally:
        raw.restore()
        signal.signal(signal.SIGWINCH, old)


def _relay(sock: socket.socket, stdin: bool) -> int:
    """Output frames to our stdout/stderr, our stdin (if asked) to the container, until the socket closes."""
    from pyrunc.runtime import attach as wire

    buf = bytearray()
    reading_stdin = stdin
    while True:
        rlist: list[Any] = [sock] + ([0] if reading_stdin else [])
        readable, _, _ = select.select(rlist, [], [])
        if 0 in readable:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if data:
                sock.sendall(wire.frame(wire.STDIN, data))
            else:
                reading_stdin = False
                sock.sendall(wire.frame(wire.STDIN_EOF))
        if sock in readable:
            data = sock.recv(1 << 16)
            if not data:
                return 0
            buf += data
            try:
                frames = wire.split_frames(buf)
            except ValueError as e:
                raise PyruncError(f"attach: {e}") from None
            for kind, payload in frames:
                out = 2 if kind == wire.STDERR else 1
                _write_all(out, payload)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]

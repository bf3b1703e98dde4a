"""pyrunc cri [--listen unix:///run/pyrunc/cri.sock]: serve the CRI (runtime.v1) to a kubelet (docs/cri.md).

A thin edge: the gRPC server (pyrunc/cri/server.py) runs in this process with grpcio's threads; each
sandbox or container call is one request to the node's supervisor, which runs it. Serves until SIGTERM.
"""

from __future__ import annotations

import sys
from typing import Any

DEFAULT_LISTEN = "unix:///run/pyrunc/cri.sock"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--listen", default=DEFAULT_LISTEN,
                        help=f"the endpoint to serve, unix:///ABSOLUTE/PATH (default {DEFAULT_LISTEN})")
    parser.add_argument("--stream-address", default="127.0.0.1",
                        help="the address of the streaming server for exec, attach and port-forward (default 127.0.0.1)")
    parser.add_argument("--stream-port", type=int, default=0,
                        help="its port (default 0: one the kernel picks)")


def run(cfg: Any, args: Any) -> int:
    from pyrunc.errors import PyruncError

    try:
        import grpc  # noqa: F401
        from google.protobuf import json_format  # noqa: F401
    except ImportError:
        raise PyruncError("pyrunc cri needs grpcio and protobuf", hint="pip install 'pyrunc[cri]' (make setup does)") from None
    from pyrunc.cri import codegen

    if not codegen.current():
        try:
            codegen.generate()
        except ImportError:
            raise PyruncError("pyrunc cri: the code of pyrunc/cri/api.proto is not generated and grpcio-tools is missing",
                              hint="pip install 'pyrunc[cri]' then python -m pyrunc.cri.codegen") from None
    from pyrunc.cri.server import serve, socket_path

    import ipaddress

    socket_path(args.listen)  # a bad --listen is one error line before anything starts
    try:
        ipaddress.ip_address(args.stream_address)
    except ValueError:
        raise PyruncError(f"--stream-address: {args.stream_address!r} is not an IP address") from None
    if not 0 <= args.stream_port < 65536:
        raise PyruncError(f"--stream-port: {args.stream_port} is not a port number (0 to 65535)")

    def ready(path: str) -> None:
        print(f"pyrunc cri: serving runtime.v1 on unix://{path}", file=sys.stderr, flush=True)

    return serve(cfg, args.listen, ready, args.stream_address, args.stream_port)

"""Generate the Python code of api.proto (grpcio-tools): `python -m pyrunc.cri.codegen [--check]`.

Generated at set-up (scripts/setup.sh), not checked in: the code protoc writes is tied to the protobuf
runtime it was generated for (the generated module refuses an older runtime), so it is made by the
grpcio-tools installed next to the runtime that imports it. The files (api_pb2.py, api_pb2_grpc.py, .pyi)
are git-ignored; a stamp holds the hash of the api.proto they were made from, so a changed api.proto
is noticed (`ensure()` regenerates, `--check` fails).

The proto is compiled as pyrunc/cri/api.proto from the package's parent directory: the generated gRPC
module then imports `pyrunc.cri.api_pb2` by its package name (protoc writes imports from the path).
"""

from __future__ import annotations

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "api.proto")
STAMP = os.path.join(HERE, "api_pb2.stamp")
OUTPUTS = ("api_pb2.py", "api_pb2_grpc.py", "api_pb2.pyi")


def proto_hash() -> str:
    with open(PROTO, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def current() -> bool:
    """The generated files exist and were made from this api.proto."""
    try:
        with open(STAMP, encoding="ascii") as f:
            stamp = f.read().strip()
    except OSError:
        return False
    return stamp == proto_hash() and all(os.path.exists(os.path.join(HERE, n)) for n in OUTPUTS)


def generate() -> None:
    from grpc_tools import protoc  # noqa: PLC0415 - only at set-up

    top = os.path.dirname(os.path.dirname(HERE))  # the directory that holds the pyrunc package
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rel = os.path.relpath(PROTO, top)
    code = protoc.main(["grpc_tools.protoc", f"-I{top}", f"-I{include}", f"--python_out={top}",
                        f"--pyi_out={top}", f"--grpc_python_out={top}", rel])
    if code != 0:
        raise RuntimeError(f"protoc failed on {rel} (exit {code})")
    with open(STAMP, "w", encoding="ascii") as f:
        f.write(proto_hash() + "\n")


def ensure() -> None:
    if not current():
        generate()


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if current():
            return 0
        print("pyrunc/cri: the generated code is missing or older than api.proto: "
              "run python -m pyrunc.cri.codegen", file=sys.stderr)
        return 1
    generate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

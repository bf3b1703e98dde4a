"""Facts about this host that the runtime reports (kept light: the CLI's read path imports it)."""

from __future__ import annotations

import os


def machine_memory() -> int:
    with open("/proc/meminfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def host_ip() -> str:
    """The node's primary IPv4 address: that of the default route's interface (SIOCGIFADDR)."""
    # _socket, the C module, not socket: socket.py's enum conversions cost `get` 3-5 ms, and only a
    # datagram socket's descriptor and inet_ntoa are needed here.
    import _socket
    import fcntl
    import struct

    try:
        with open("/proc/net/route", encoding="utf-8") as f:
            routes = [line.split() for line in f.readlines()[1:]]
        iface = next(r[0] for r in routes if len(r) > 2 and r[1] == "00000000")
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = struct.pack("256s", iface.encode()[:15])
            return _socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
        finally:
            s.close()
    except (OSError, StopIteration):
        return "127.0.0.1"


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of `release` (default: the running kernel's; `6.1.0-18-amd64` -> (6, 1))."""
    import re

    nums = re.match(r"(\d+)\.(\d+)", release if release is not None else os.uname().release)
    return (int(nums.group(1)), int(nums.group(2))) if nums else (0, 0)

"""Bridge, veth pair and the pod's eth0, through pyroute2 netlink sockets.

pyroute2 is imported inside the functions only: its import costs ~140 ms and ``pyrunc get``
must not pay it. Its ``NetNS``/``IPRoute(netns=...)`` fork a helper process per socket; instead
``iproute_in`` moves the calling thread into the pod's netns with setns(2), opens the socket
there and moves back. A netlink socket stays bound to the netns it was created in, so it keeps
configuring the pod's namespace after the thread is back home.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from typing import Any

from pyrunc.errors import NetworkError
from pyrunc.linux.syscalls import CLONE_NEWNET, setns

POD_IFNAME = "eth0"


@contextlib.contextmanager
def iproute_in(netns_path: str | None = None) -> Iterator[Any]:
    """An ``IPRoute`` bound to ``netns_path`` (the caller's own netns when None)."""
    from pyroute2 import IPRoute

    if netns_path is None:
        ipr = IPRoute()
    else:
        try:
            target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise NetworkError(f"pod network namespace {netns_path}: {e.strerror}") from None
        # setns(2) with CLONE_NEWNET moves only the calling thread; /proc/thread-self names it.
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                setns(target, CLONE_NEWNET)
            except OSError as e:
                raise NetworkError(f"setns into {netns_path} failed: {e.strerror}") from None
            try:
                ipr = IPRoute()
            finally:
                # Staying in the pod's netns would silently misconfigure the node: never continue.
                try:
                    setns(home, CLONE_NEWNET)
                except OSError:
                    os.abort()
        finally:
            os.close(target)
            os.close(home)
    try:
        yield ipr
    finally:
        ipr.close()


@contextlib.contextmanager
def _netlink(what: str) -> Iterator[None]:
    """Turn a pyroute2 NetlinkError into a NetworkError naming the step."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        yield
    except NetlinkError as e:
        raise NetworkError(f"{what}: {os.strerror(e.code)}") from e


def link_index(ipr: Any, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


# (bridge name, index) of the bridges this process addressed and brought up: the next pod finds the bridge by
# name and, at the same index, needs no address query nor "up" again (two netlink calls fewer per pod).
_ensured: set[tuple[str, int]] = set()


def ensure_bridge(ipr: Any, bridge: str, gateway: str, prefix_len: int) -> int:
    """The bridge's index; created, addressed and up if it is missing."""
    index = link_index(ipr, bridge)
    if index is not None and (bridge, index) in _ensured:
        return index
    if index is None:
        with _netlink(f"create bridge {bridge}"):
            ipr.link("add", ifname=bridge, kind="bridge")
        index = link_index(ipr, bridge)
        if index is None:
            raise NetworkError(f"bridge {bridge} vanished right after it was created")
    with _netlink(f"set up bridge {bridge}"):
        have = {a.get("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)}
        if gateway not in have:
            ipr.addr("add", index=index, address=gateway, prefixlen=prefix_len)
        ipr.link("set", index=index, state="up")
    _ensured.add((bridge, index))
    return index


def forget_bridge(bridge: str) -> None:
    """The bridge is being deleted: a bridge of the same name made later is set up again."""
    for known in [k for k in _ensured if k[0] == bridge]:
        _ensured.discard(known)


def delete_link(ipr: Any, ifname: str) -> None:
    """Delete ``ifname``; gone already (e.g. with its netns) is fine."""
    index = link_index(ipr, ifname)
    if index is None:
        return
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.link("del", index=index)
    except NetlinkError as e:
        if e.code != errno.ENODEV:
            raise NetworkError(f"delete interface {ifname}: {os.strerror(e.code)}") from e


def create_veth(ipr: Any, host_veth: str, netns_path: str, bridge_index: int) -> None:
    """veth pair: ``host_veth`` up on the bridge, its peer created straight in the pod netns as eth0.

    Creating the peer inside the target netns (IFLA_NET_NS_FD on the peer) avoids a name clash
    with the node's own eth0 and a separate move step; the host end gets its bridge and "up" in the
    same message. A ``host_veth`` left by a crash is deleted and the pair made again.
    """
    from pyroute2.netlink.exceptions import NetlinkError

    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for attempt in (1, 2):
            try:
                ipr.link("add", ifname=host_veth, kind="veth", master=bridge_index, state="up",
                         peer={"ifname": POD_IFNAME, "net_ns_fd": fd})
                return
            except NetlinkError as e:
                if e.code != errno.EEXIST or attempt == 2:
                    raise NetworkError(f"create veth {host_veth}: {os.strerror(e.code)}") from e
            delete_link(ipr, host_veth)  # a leftover of an older crash
    finally:
        os.close(fd)


def configure_pod_side(ipr_pod: Any, ip: str, prefix_len: int, gateway: str) -> None:
    """In the pod netns: eth0 addressed and up, default route via the bridge (lo is up already: the
    process that made the namespace brought it up, sandbox.py)."""
    with _netlink("configure the pod's eth0"):
        eth0 = link_index(ipr_pod, POD_IFNAME)
        if eth0 is None:
            raise NetworkError(f"{POD_IFNAME} did not appear in the pod network namespace")
        ipr_pod.addr("add", index=eth0, address=ip, prefixlen=prefix_len)
        ipr_pod.link("set", index=eth0, state="up")
        ipr_pod.route("add", dst="0.0.0.0/0", gateway=gateway, oif=eth0)


def write_sysctl(path: str, value: str) -> None:
    """Write ``value`` to ``/proc/sys/<path>`` (path with slashes: a bridge name may hold dots)."""
    try:
        with open("/proc/sys/" + path, "w", encoding="ascii") as f:
            f.write(value)
    except OSError as e:
        raise NetworkError(f"sysctl {path.replace('/', '.')}={value}: {e.strerror}") from None

"""Which root owns a bridge, its pod subnet and its nftables table: one claim per root, host-wide.

Several roots (`--root`) may run on one host, each with its own supervisor, pods and leases. The
bridge, the subnet routed to it and the NAT table are the host's, though: two roots on the same
bridge would hand out the same addresses from separate lease files, and the one whose last pod
goes would delete the bridge under the other's pods. So a root claims them before its first pod
gets a network, and a root whose settings would share any of them is refused in one line naming
the settings to change.

A claim is ``<claims dir>/<hash of the root>.json`` = {root, bridge, subnet, table}, written and
read under ``<claims dir>/lock`` (flock). The directory is under /run: like the bridge and the
table it claims, it does not survive a reboot. A root drops its claim when it removes its bridge
(its last pod is gone). A claim is stale, and taken over, when its root no longer exists, or when
that root's supervisor is not running and the root has no pod (a root killed with its files).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from pyrunc.errors import NetworkError
from pyrunc.linux.syscalls import pid_alive
from pyrunc.network.model import NetConfig

CLAIMS_DIR = "/run/pyrunc-claims"


@dataclass(frozen=True, slots=True)
class Claim:
    root: str
    bridge: str
    subnet: str
    table: str

    @staticmethod
    def of(cfg: NetConfig) -> Claim:
        return Claim(root=os.path.abspath(cfg.root), bridge=cfg.bridge, subnet=str(cfg.network), table=cfg.table)

    def clashes(self, other: Claim) -> list[str]:
        """The settings of ours that ``other`` also uses ("bridge", "pod_subnet"); [] when none."""
        settings = []
        if self.bridge == other.bridge or self.table == other.table:
            settings.append("bridge")
        try:
            if ipaddress.IPv4Network(self.subnet).overlaps(ipaddress.IPv4Network(other.subnet)):
                settings.append("pod_subnet")
        except ValueError:
            pass  # a claim we cannot read the subnet of clashes by bridge only
        return settings


def _file(directory: str, root: str) -> str:
    return os.path.join(directory, hashlib.sha256(root.encode()).hexdigest()[:16] + ".json")


@contextlib.contextmanager
def _locked(directory: str) -> Iterator[None]:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(path: str) -> Claim | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Claim(root=str(data["root"]), bridge=str(data["bridge"]), subnet=str(data["subnet"]),
                     table=str(data["table"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def claims(directory: str = CLAIMS_DIR) -> list[Claim]:
    """Every claim on the host (unreadable ones skipped)."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    found = [_read(os.path.join(directory, n)) for n in names if n.endswith(".json")]
    return [c for c in found if c is not None]


def is_stale(claim: Claim) -> bool:
    """The claiming root is gone, or has neither a running supervisor nor any pod."""
    if not os.path.isdir(claim.root):
        return True
    try:
        with open(os.path.join(claim.root, "daemon.json"), encoding="utf-8") as f:
            facts = json.load(f)
        if pid_alive(int(facts.get("pid", 0)), facts.get("startTime")):
            return False
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        return not any(os.scandir(os.path.join(claim.root, "pods")))
    except FileNotFoundError:
        return True


def claim(cfg: NetConfig, directory: str = CLAIMS_DIR) -> None:
    """Make ``cfg.root`` the owner of its bridge, subnet and table, or refuse naming the settings to change.

    Idempotent: a root's own claim is rewritten. Stale claims of other roots are removed."""
    mine = Claim.of(cfg)
    with _locked(directory):
        for other in claims(directory):
            if other.root == mine.root:
                continue
            if not os.path.isdir(other.root):  # a root removed with its files (a test's temp root)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_file(directory, other.root))
                continue
            settings = mine.clashes(other)
            if not settings:
                continue
            if is_stale(other):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_file(directory, other.root))
                continue
            names = " and ".join(f'"{s}"' for s in settings)
            raise NetworkError(
                f"bridge {mine.bridge} / pod subnet {mine.subnet} would share the node network of the pyrunc "
                f"root {other.root} (bridge {other.bridge}, pod subnet {other.subnet}): set {names} in "
                f"{os.path.join(mine.root, 'config.json')} to values of this root's own")
        path = _file(directory, mine.root)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"root": mine.root, "bridge": mine.bridge, "subnet": mine.subnet, "table": mine.table}, f)
        os.replace(tmp, path)


def other_owner(cfg: NetConfig, directory: str = CLAIMS_DIR) -> Claim | None:
    """The live claim of another root on any of ``cfg``'s bridge, subnet or table; None when none.

    A root removes its bridge and table only when this is None: a root that was refused (or never
    claimed, like a root of an older version) must not delete them under the owner's pods."""
    mine = Claim.of(cfg)
    with _locked(directory):
        for other in claims(directory):
            if other.root != mine.root and mine.clashes(other) and not is_stale(other):
                return other
    return None


def release(cfg: NetConfig, directory: str = CLAIMS_DIR) -> None:
    """Drop the root's claim (its bridge and table are gone); none is fine."""
    with _locked(directory):
        held = _read(_file(directory, os.path.abspath(cfg.root)))
        if held is not None and held.root == os.path.abspath(cfg.root):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_file(directory, held.root))

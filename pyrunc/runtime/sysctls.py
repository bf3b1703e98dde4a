"""Pod sysctls (spec.securityContext.sysctls): which are allowed on this node, and where they go.

The kubelet admits a pod's sysctls against an allow-list (pkg/kubelet/sysctl): its own safe set,
each entry only on kernels where it is namespaced, plus the node's ``--allowed-unsafe-sysctls``
(here the node setting ``allowed_unsafe_sysctls``: names or ``prefix*`` patterns). Whatever is
allowed must be namespaced (IPC: ``kernel.shm*``, ``kernel.msg*``, ``kernel.sem``, ``fs.mqueue.*``;
network: ``net.*``), so that writing it changes the pod's namespaces and never the host's. A pod
that asks for anything else is rejected: phase Failed, reason ``SysctlForbidden``, message
``Pod was rejected: forbidden sysctl: "NAME" not allowlisted``. pyrunc has no admission stage that
records a rejected pod, so it refuses the pod at apply with that message, creating nothing.

The allowed values are written once, in the sandbox's new namespaces right after they are created
(sandbox.py), as runc writes a sandbox's ``linux.sysctl``; every container of the pod sees them.
Pure logic apart from reading the kernel release.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from pyrunc.linux.host import kernel_version

FORBIDDEN_REASON = "SysctlForbidden"
MAX_LENGTH = 253

# The kubelet's safe set (pkg/kubelet/sysctl/safe_sysctls.go) with the first kernel where each is
# namespaced (pkg/util/kernel/constants.go); None = every supported kernel.
SAFE_SYSCTLS: tuple[tuple[str, tuple[int, int] | None], ...] = (
    ("kernel.shm_rmid_forced", None),
    ("net.ipv4.ip_local_port_range", None),
    ("net.ipv4.tcp_syncookies", None),
    ("net.ipv4.ping_group_range", None),
    ("net.ipv4.ip_unprivileged_port_start", None),
    ("net.ipv4.ip_local_reserved_ports", (3, 16)),
    ("net.ipv4.tcp_keepalive_time", (4, 5)),
    ("net.ipv4.tcp_fin_timeout", (4, 6)),
    ("net.ipv4.tcp_keepalive_intvl", (4, 5)),
    ("net.ipv4.tcp_keepalive_probes", (4, 5)),
    ("net.ipv4.tcp_rmem", (4, 15)),
    ("net.ipv4.tcp_wmem", (4, 15)),
)

# k8s.io/component-helpers/node/util/sysctl: what the kernel namespaces, by name and by prefix.
IPC, NET = "IPC", "Net"
_NAMESPACED = {"kernel.sem": IPC}
_NAMESPACED_PREFIXES = (("kernel.shm", IPC), ("kernel.msg", IPC), ("fs.mqueue.", IPC), ("net.", NET))

# The API server's sysctl name (validation.IsValidSysctlName), slashes allowed as separators.
_SEGMENT = r"[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
NAME_REGEX = rf"^({_SEGMENT}[\./])*{_SEGMENT}$"
_NAME = re.compile(NAME_REGEX)
_PATTERN_PREFIX = re.compile(rf"^({_SEGMENT}[\./])*([a-z0-9][-_a-z0-9]*)?$")


def valid_name(name: str) -> bool:
    return len(name) <= MAX_LENGTH and bool(_NAME.match(name))


def normalize(name: str) -> str:
    """The dotted form: `net/ipv4/conf/eth0.100/rp_filter` -> `net.ipv4.conf.eth0/100.rp_filter`
    (component-helpers ConvertSysctlVariableToDotsSeparator: slashes and dots swap when the first
    separator is a slash)."""
    first = next((c for c in name if c in "./"), ".")
    return name if first == "." else name.translate(str.maketrans("./", "/."))


def proc_path(name: str) -> str:
    """The file under /proc/sys of a (valid) sysctl name: dots are directories, slashes stay in names."""
    return normalize(name).translate(str.maketrans("./", "/."))


def namespace_of(name: str) -> str | None:
    """IPC, Net, or None when the kernel does not namespace it (it would change the host)."""
    name = normalize(name)
    if name in _NAMESPACED:
        return _NAMESPACED[name]
    return next((ns for prefix, ns in _NAMESPACED_PREFIXES if name.startswith(prefix)), None)


def safe_sysctls(kernel: tuple[int, int]) -> list[str]:
    return [name for name, since in SAFE_SYSCTLS if since is None or kernel >= since]


class Allowlist:
    """The kubelet's patternAllowlist: exact names and `prefix*` patterns, each known to be namespaced."""

    def __init__(self, patterns: Iterable[str], kernel: tuple[int, int] | None = None) -> None:
        self.names: dict[str, str] = {}
        self.prefixes: dict[str, str] = {}
        for name in safe_sysctls(kernel if kernel is not None else kernel_version()):
            self.names[name] = namespace_of(name) or ""
        for pattern in patterns:
            self.add(pattern)

    def add(self, pattern: str) -> None:
        """Raises ValueError for a pattern that is malformed or not namespaced (the kubelet refuses to start)."""
        star = pattern.endswith("*")
        body = pattern[:-1] if star else pattern
        if len(pattern) > MAX_LENGTH or not (_PATTERN_PREFIX.match(body) if star else _NAME.match(body)):
            raise ValueError(f"sysctl {pattern!r} must have at most {MAX_LENGTH} characters and match regex "
                             f"{NAME_REGEX} (or end in * as a prefix pattern)")
        body = normalize(body)
        ns = namespace_of(body)
        if ns is None:
            raise ValueError(f"the sysctl{'s' if star else ''} {pattern!r} {'are' if star else 'is'} not known to be "
                             "namespaced: only kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* and net.* can be allowed")
        (self.prefixes if star else self.names)[body] = ns

    def check(self, name: str, host_network: bool, host_ipc: bool) -> str | None:
        """None when `name` may be set; otherwise the kubelet's reason (`"X" not allowlisted`)."""
        name = normalize(name)
        ns = self.names.get(name)
        if ns is None:
            ns = next((p_ns for prefix, p_ns in self.prefixes.items() if name.startswith(prefix)), None)
        if ns is None:
            return f'"{name}" not allowlisted'
        if (ns == IPC and host_ipc) or (ns == NET and host_network):
            return f'"{name}" not allowed with host {ns} enabled'
        return None


def admit(pod: Any, allowlist: Allowlist) -> str | None:
    """The kubelet's sysctl admission: None, or the pod's rejection message (reason SysctlForbidden)."""
    psc = pod.spec.security_context
    for s in psc.sysctls if psc is not None else ():
        why = allowlist.check(s.name, pod.spec.host_network, pod.spec.host_ipc)
        if why is not None:
            return f"Pod was rejected: forbidden sysctl: {why}"
    return None


def pod_sysctls(spec: Any) -> list[tuple[str, str]]:
    """(name, value) of the pod's sysctls, in order, names in their dotted form."""
    psc = spec.security_context
    return [(normalize(s.name), s.value) for s in (psc.sysctls if psc is not None else ())]


def node_allowlist(cfg: Any) -> Allowlist:
    """The allow-list of the node `cfg` (its safe set for this kernel and allowed_unsafe_sysctls)."""
    from pyrunc.errors import PyruncError

    try:
        return Allowlist(cfg.allowed_unsafe_sysctls)
    except ValueError as e:
        raise PyruncError(f"{os.path.join(cfg.root, 'config.json')}: allowed_unsafe_sysctls: {e}") from None


def admit_on_node(pod: Any, cfg: Any) -> None:
    """Refuse `pod` (PyruncError, one line) when the node would reject it for its sysctls."""
    from pyrunc.errors import PyruncError

    psc = pod.spec.security_context
    if psc is None or not psc.sysctls:
        return
    why = admit(pod, node_allowlist(cfg))
    if why is not None:
        raise PyruncError(f'pod "{pod.metadata.name}" rejected: {FORBIDDEN_REASON}: {why} (the node allows the '
                          f"kubelet's safe sysctls and those in allowed_unsafe_sysctls of "
                          f"{os.path.join(cfg.root, 'config.json')})")

"""The pod's /etc/hosts and /etc/resolv.conf, rendered as the kubelet and containerd write them.

Pure functions of strings, except ``read_host_resolv`` which reads the node's file.

hosts (kubelet ``managedHostsFileContent``): a header, the localhost lines (IPv4 and the
IPv6 ones), ``<podIP>\\t<hostname>`` (``<podIP>\\t<hostname>.<subdomain>.<ns>.svc.<domain>\\t<hostname>``
with a subdomain), then a "# Entries added by HostAliases." section, one tab-separated line per
alias. hostNetwork pods get the node's own hosts file under a "(host network)" header, plus
the aliases.

resolv.conf (kubelet ``dns.go`` + containerd): with no cluster DNS server, ClusterFirst (and
ClusterFirstWithHostNet) fall back to Default, the node's resolv.conf; ``None`` uses dnsConfig
only. dnsConfig nameservers and searches are appended, duplicates dropped, options merged by name
(dnsConfig wins). The kubelet's limits apply: 3 nameservers, 32 search domains of 2048
characters in all. containerd writes ``search``, then ``nameserver`` lines, then ``options``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence

HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
_LOCALHOST_LINES = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)
MAX_NAMESERVERS = 3
MAX_SEARCHES = 32
MAX_SEARCH_CHARS = 2048
# systemd-resolved's stub: unreachable from a pod netns; its real upstreams are listed here.
RESOLVED_UPSTREAM = "/run/systemd/resolve/resolv.conf"


def render_hosts(
    pod_ip: str,
    hostname: str,
    subdomain: str = "",
    namespace: str = "default",
    host_aliases: Sequence[tuple[str, Sequence[str]]] = (),
    host_network: bool = False,
    host_hosts: str = "",
    cluster_domain: str = "cluster.local",
) -> str:
    """/etc/hosts of a pod; ``host_hosts`` is the node's file, used for hostNetwork pods."""
    if host_network:
        return HOSTS_HEADER_HOST_NETWORK + host_hosts + _alias_lines(host_aliases)
    if subdomain and cluster_domain:
        own = f"{pod_ip}\t{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}\t{hostname}\n"
    else:
        own = f"{pod_ip}\t{hostname}\n"
    return HOSTS_HEADER + _LOCALHOST_LINES + own + _alias_lines(host_aliases)


def _alias_lines(host_aliases: Sequence[tuple[str, Sequence[str]]]) -> str:
    if not host_aliases:
        return ""
    lines = ["\n# Entries added by HostAliases.\n"]
    lines += [f"{ip}\t" + "\t".join(names) + "\n" for ip, names in host_aliases]
    return "".join(lines)


def render_resolv(
    host_resolv: str,
    dns_policy: str,
    nameservers: Sequence[str] = (),
    searches: Sequence[str] = (),
    options: Sequence[str] = (),
) -> str:
    """/etc/resolv.conf of a pod. ``options`` are dnsConfig options as ``name`` or ``name:value``."""
    if dns_policy == "None":
        base_servers: list[str] = []
        base_searches: list[str] = []
        base_options: list[str] = []
    else:
        base_servers, base_searches, base_options = parse_resolv(host_resolv)
        # A loopback nameserver of the node (127.0.0.53 of systemd-resolved, a local dnsmasq)
        # means the pod's own loopback inside its netns: nothing listens there. Docker drops
        # them the same way; the kubelet expects --resolv-conf to point at a usable file.
        base_servers = [s for s in base_servers if not _is_loopback(s)]
    servers = _unique([*base_servers, *nameservers])[:MAX_NAMESERVERS]
    search_list = _fit_searches(_unique([*base_searches, *searches]))
    merged = _merge_options(base_options, options)
    out = []
    if search_list:
        out.append("search " + " ".join(search_list) + "\n")
    out += [f"nameserver {s}\n" for s in servers]
    if merged:
        out.append("options " + " ".join(merged) + "\n")
    return "".join(out)


def parse_resolv(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, searches, options) as glibc reads them: the last search/domain line wins."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        fields = line.split()
        if len(fields) < 2:
            continue
        key, values = fields[0], fields[1:]
        if key == "nameserver":
            servers.append(values[0])
        elif key in ("search", "domain"):
            searches = list(values)
        elif key == "options":
            options = _merge_options(options, values)
    return servers, searches, options


def read_host_resolv(path: str = "/etc/resolv.conf") -> str:
    """The node's resolv.conf, or systemd-resolved's upstream list when the file only names its stub."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    servers = parse_resolv(text)[0]
    if servers and all(_is_loopback(s) for s in servers) and os.path.exists(RESOLVED_UPSTREAM):
        with open(RESOLVED_UPSTREAM, encoding="utf-8") as f:
            return f.read()
    return text


def _is_loopback(server: str) -> bool:
    try:
        return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _fit_searches(searches: list[str]) -> list[str]:
    """The kubelet's limits: at most 32 domains and 2048 characters (spaces included)."""
    kept: list[str] = []
    length = -1
    for domain in searches[:MAX_SEARCHES]:
        if length + 1 + len(domain) > MAX_SEARCH_CHARS:
            break
        kept.append(domain)
        length += 1 + len(domain)
    return kept


def _merge_options(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Merge ``name[:value]`` options by name, keeping first-seen order; later values win."""
    merged: dict[str, str] = {}
    for option in [*base, *overrides]:
        name, sep, value = option.partition(":")
        merged[name] = f"{name}:{value}" if sep and value else name
    return list(merged.values())
